//! Distribution drift checks end to end: tables whose distribution is shifted by a known
//! amount between runs of the binary are flagged, a resample of the same distribution is
//! not, and the references (`previous`, `last_7d`, `snapshot`) pick the profiles they say.

use serde_json::Value;
use statrs::distribution::{ContinuousCDF, Normal};

use crate::support::{
    Backend, Project, TestDb, json_run_async, on_each_backend, result, result_lines, text,
};

/// `n` amounts from normal(`mean`, 10), as a random sample would spread them: a fixed
/// pseudo-random sequence (`seed`) through the inverse distribution function.
fn amounts(n: usize, mean: f64, seed: u64) -> Vec<f64> {
    let normal = Normal::new(mean, 10.0).expect("a valid normal distribution");
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            (normal.inverse_cdf(u) * 100.0).round() / 100.0
        })
        .collect()
}

/// `count` rows of each status, in turn.
fn statuses(mix: &[(&str, usize)]) -> Vec<String> {
    mix.iter()
        .flat_map(|(status, count)| std::iter::repeat_n(status.to_string(), *count))
        .collect()
}

/// Replaces the rows of `payments` with these amounts and statuses, paired in order.
async fn refill(db: &TestDb, amounts: &[f64], statuses: &[String]) {
    assert_eq!(amounts.len(), statuses.len(), "one status per amount");
    let rows: Vec<String> = amounts
        .iter()
        .zip(statuses)
        .map(|(amount, status)| format!("({amount}, '{status}')"))
        .collect();
    let values = rows.join(", ");
    match db.backend() {
        // Spark's file tables have no DELETE: an overwrite replaces them.
        #[cfg(feature = "warehouse-spark")]
        Backend::Spark => {
            db.exec(&format!("INSERT OVERWRITE TABLE payments VALUES {values}"))
                .await;
        }
        _ => {
            db.exec("DELETE FROM payments").await;
            db.exec(&format!(
                "INSERT INTO payments (amount, status) VALUES {values}"
            ))
            .await;
        }
    }
}

async fn payments(backend: Backend) -> TestDb {
    let types = backend.types();
    TestDb::seeded(
        backend,
        &format!(
            "CREATE TABLE payments (amount {}, status {})",
            types.decimal, types.text
        ),
    )
    .await
}

/// Runs the project and returns its exit code and document, with the results for messages.
async fn run(project: &Project) -> (i32, Value, String) {
    let (code, doc) = json_run_async(project.path(), &[]).await;
    let lines = result_lines(&doc);
    (code, doc, lines)
}

const PAYMENT_CHECKS: &str = "dataset: payments
checks:
  - distribution: { column: amount }
  - distribution: { column: amount, method: psi, name: amount_psi, threshold: { warn: 0.05, fail: 0.1 } }
  - distribution: { column: status }
";

async fn shifts_are_flagged_and_resamples_are_not(backend: Backend) {
    let db = payments(backend).await;
    let project = Project::with_datasets(db.url(), &[("payments", PAYMENT_CHECKS)]);
    let baseline = [("placed", 1_000), ("shipped", 600), ("delivered", 400)];
    refill(&db, &amounts(2_000, 50.0, 1), &statuses(&baseline)).await;
    let (code, doc, lines) = run(&project).await;
    assert_eq!(code, 0, "{lines}");
    for check in ["distribution(amount)", "amount_psi", "distribution(status)"] {
        let first = result(&doc, None, check);
        assert_eq!(first["outcome"], "pass", "{lines}");
        assert_eq!(first["value"], Value::Null, "{lines}");
        assert!(
            text(&first["message"]).starts_with("first profile of"),
            "{lines}"
        );
    }

    // The same distributions, sampled again: nothing drifted.
    let resample = [("placed", 905), ("shipped", 540), ("delivered", 355)];
    refill(&db, &amounts(1_800, 50.0, 2), &statuses(&resample)).await;
    let (code, doc, lines) = run(&project).await;
    assert_eq!(code, 0, "{lines}");
    let ks = result(&doc, None, "distribution(amount)");
    assert!(ks["value"].as_f64().is_some_and(|p| p > 0.01), "{lines}");
    assert!(
        text(&ks["message"])
            .starts_with("amount's distribution is in line with the previous run (KS p = "),
        "{lines}"
    );
    assert_eq!(
        result(&doc, None, "amount_psi")["outcome"],
        "pass",
        "{lines}"
    );
    assert_eq!(
        result(&doc, None, "distribution(status)")["outcome"],
        "pass",
        "{lines}"
    );

    // Half a standard deviation up, and a new status taking 15%.
    let shifted = [
        ("placed", 800),
        ("shipped", 550),
        ("delivered", 350),
        ("cancelled", 300),
    ];
    refill(&db, &amounts(2_000, 55.0, 3), &statuses(&shifted)).await;
    let (code, doc, lines) = run(&project).await;
    assert_eq!(code, 1, "{lines}");
    let ks = result(&doc, None, "distribution(amount)");
    assert_eq!(ks["outcome"], "fail", "{lines}");
    assert_eq!(ks["kind"], "distribution", "{lines}");
    assert_eq!(ks["column"], "amount", "{lines}");
    assert_eq!(
        ks["expected"],
        serde_json::json!({ "min": 0.01 }),
        "{lines}"
    );
    assert!(ks["value"].as_f64().is_some_and(|p| p < 1e-6), "{lines}");
    let message = text(&ks["message"]);
    assert!(
        message.starts_with(
            "amount's distribution drifted from the previous run (KS p < 0.0001 < 0.01; D = 0.2"
        ),
        "{lines}"
    );
    assert!(message.ends_with("; median 49.86 → 55.01)"), "{lines}");
    let psi = result(&doc, None, "amount_psi");
    assert_eq!(psi["outcome"], "fail", "{lines}");
    // The index of two normals half a standard deviation apart is about 0.25.
    assert!(
        psi["value"]
            .as_f64()
            .is_some_and(|v| (0.15..0.35).contains(&v)),
        "{lines}"
    );
    let status = result(&doc, None, "distribution(status)");
    assert_eq!(status["outcome"], "fail", "{lines}");
    assert!(
        text(&status["message"]).starts_with("status's value frequencies drifted from the previous run (chi-square p < 0.0001 < 0.01; 'cancelled' 0.0% → 15.0%)"),
        "{lines}"
    );
}

on_each_backend!(
    shifts_are_flagged_and_resamples_are_not,
    postgres: postgres_shifts_are_flagged_and_resamples_are_not,
    mariadb: mariadb_shifts_are_flagged_and_resamples_are_not,
    sqlite: sqlite_shifts_are_flagged_and_resamples_are_not,
    duckdb: duckdb_shifts_are_flagged_and_resamples_are_not,
    spark: spark_shifts_are_flagged_and_resamples_are_not,
);

/// Three runs: a baseline, then the same shifted table twice. `previous` sees no change at
/// the third run, a snapshot taken after the baseline sees the shift, and the last 7 days
/// pool both earlier runs.
#[tokio::test(flavor = "multi_thread")]
async fn references_pick_their_profiles() {
    let db = payments(Backend::Postgres).await;
    let checks = |snapshot: &str| {
        format!(
            "dataset: payments
checks:
  - distribution: {{ column: amount, name: previous }}
  - distribution: {{ column: amount, name: week, reference: last_7d }}
  - distribution: {{ column: amount, name: pinned, reference: {{ snapshot: '{snapshot}' }} }}
"
        )
    };
    let project =
        Project::with_datasets(db.url(), &[("payments", &checks("2000-01-01T00:00:00Z"))]);
    let mix = statuses(&[("placed", 2_000)]);
    refill(&db, &amounts(2_000, 50.0, 4), &mix).await;
    let (code, doc, lines) = run(&project).await;
    // Nothing was recorded before 2000: the pinned reference is missing, not passing.
    assert_eq!(code, 2, "{lines}");
    let pinned = result(&doc, None, "pinned");
    assert_eq!(pinned["outcome"], "error", "{lines}");
    assert!(
        text(&pinned["message"]).contains("recorded at or before 2000-01-01T00:00:00Z"),
        "{lines}"
    );

    let after_baseline = chrono::Utc::now().to_rfc3339();
    std::fs::write(
        project.path().join("checks/payments.yml"),
        checks(&after_baseline),
    )
    .expect("rewrite the dataset file");
    let shifted = amounts(2_000, 55.0, 5);
    refill(&db, &shifted, &mix).await;
    let (code, _, lines) = run(&project).await;
    assert_eq!(code, 1, "the shift from the baseline fails:\n{lines}");
    refill(&db, &shifted, &mix).await;
    let (code, doc, lines) = run(&project).await;
    assert_eq!(code, 1, "{lines}");
    let previous = result(&doc, None, "previous");
    assert_eq!(previous["outcome"], "pass", "{lines}");
    assert_eq!(
        previous["value"], 1,
        "the same rows as the previous run:\n{lines}"
    );
    let pinned = result(&doc, None, "pinned");
    assert_eq!(pinned["outcome"], "fail", "{lines}");
    assert!(
        text(&pinned["message"]).starts_with("amount's distribution drifted from the profile of "),
        "{lines}"
    );
    let week = result(&doc, None, "week");
    assert!(
        text(&week["message"]).contains("the last 7 days (2 runs)"),
        "{lines}"
    );
    // The pool is half baseline, half shifted: closer to this run than the baseline is.
    assert!(week["value"].as_f64() > pinned["value"].as_f64(), "{lines}");
}

/// Checks that cannot run are errors of their own; without a store drift is not judged.
#[tokio::test(flavor = "multi_thread")]
async fn unrunnable_checks_error_and_unstored_runs_pass_with_a_note() {
    let db = payments(Backend::Postgres).await;
    refill(&db, &amounts(100, 50.0, 6), &statuses(&[("placed", 100)])).await;
    let project = Project::with_datasets(
        db.url(),
        &[(
            "payments",
            "dataset: payments
checks:
  - distribution: { column: amont }
  - distribution: { column: status, method: ks }
  - distribution: { column: amount }
  - row_count: { min: 1 }
",
        )],
    );
    let (code, doc) = json_run_async(project.path(), &["--no-store"]).await;
    let lines = result_lines(&doc);
    assert_eq!(code, 2, "{lines}");
    let missing = result(&doc, None, "distribution(amont)");
    assert_eq!(missing["outcome"], "error", "{lines}");
    assert_eq!(
        text(&missing["message"]),
        "column amont not found (did you mean amount?)"
    );
    let ks = result(&doc, None, "distribution(status)");
    assert_eq!(
        text(&ks["message"]),
        "ks needs a numeric column; status is text (use chi_square or psi)"
    );
    let unstored = result(&doc, None, "distribution(amount)");
    assert_eq!(unstored["outcome"], "pass", "{lines}");
    assert!(text(&unstored["message"]).contains("--no-store"), "{lines}");
    assert_eq!(
        result(&doc, None, "row_count")["outcome"],
        "pass",
        "{lines}"
    );
}

/// `tidemark explain` shows each profile query.
#[tokio::test(flavor = "multi_thread")]
async fn explain_shows_the_profile_queries() {
    let db = payments(Backend::Postgres).await;
    let project = Project::with_datasets(db.url(), &[("payments", PAYMENT_CHECKS)]);
    let out = project.run(&["explain"]);
    out.assert_code(0);
    assert!(out.stdout.contains(": 4 statements"), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "-- profile for distribution(status): 100 equal-count bins of status (ks) if it is \
             numeric, else the 20 most frequent values of status (chi_square)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("NTILE(100) OVER (ORDER BY \"amount\")"),
        "{}",
        out.stdout
    );
}
