//! Current health (the newest result per check), metric series, anomaly bands and
//! feedback.

use chrono::TimeDelta;
use tidemark::results::{Band, CheckResult, Feedback, Outcome};
use tidemark::store::{NewRun, ResultFilter, StoreError};

use super::{Fixture, all_results, check, minutes, plain_point, record, t0};

async fn latest_results_are_the_newest_per_check(f: &Fixture) {
    let store = &*f.store;
    assert_eq!(ok!(store.latest_results()), vec![]);
    let mut version = ok!(store.latest_results_version());
    // Every run that stores a result moves the version on; one that stores none does not.
    let mut moved_on = async |expected: bool| {
        let now = ok!(store.latest_results_version());
        assert_eq!(now > version, expected, "version {version} then {now}");
        version = now;
    };
    record(store, "idle", t0(), &[]).await;
    moved_on(false).await;
    let first = record(
        store,
        "orders",
        t0(),
        &[
            check("orders", "row_count", Outcome::Pass, Some(10.0)),
            check("orders", "nulls(email)", Outcome::Fail, Some(2.0)),
        ],
    )
    .await;
    let customers = record(
        store,
        "customers",
        t0() + minutes(1),
        &[check("customers", "row_count", Outcome::Pass, Some(5.0))],
    )
    .await;
    moved_on(true).await;
    // The second orders run has no nulls result: the first run's stays current.
    let second = record(
        store,
        "orders",
        t0() + minutes(2),
        &[check("orders", "row_count", Outcome::Warn, Some(11.0))],
    )
    .await;
    moved_on(true).await;

    let everything = all_results(store, &ResultFilter::default()).await;
    let find = |run: &NewRun, name: &str| {
        everything
            .iter()
            .find(|r| r.run_id == run.id && r.result.check == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in run {}", run.id))
    };
    let latest = ok!(store.latest_results());
    let want = vec![
        find(&customers, "row_count"),
        find(&first, "nulls(email)"),
        find(&second, "row_count"),
    ];
    assert_eq!(latest, want);
    assert_eq!(latest[2].result.outcome, Outcome::Warn);
    assert_eq!(latest[2].result.value, Some(11.0));
}

on_each_store!(
    latest_results_are_the_newest_per_check,
    postgres: postgres_latest_results_are_the_newest_per_check,
    sqlite: sqlite_latest_results_are_the_newest_per_check,
);

async fn metric_series_are_ordered_by_time(f: &Fixture) {
    let store = &*f.store;
    // Recorded out of time order: the series is ordered by when values were observed.
    let hour = |h: i64| t0() + TimeDelta::hours(h);
    let point = |h: i64, value| plain_point(hour(h) + TimeDelta::seconds(1), value);
    for (h, value) in [(2, 20.0), (1, 10.0), (3, 30.0)] {
        let results = [
            check("orders", "row_count", Outcome::Pass, Some(value)),
            check("orders", "avg(amount)", Outcome::Pass, Some(value / 10.0)),
            check("orders", "freshness", Outcome::Error, None),
        ];
        record(store, "orders", hour(h), &results).await;
    }
    record(
        store,
        "customers",
        hour(2),
        &[check("customers", "row_count", Outcome::Pass, Some(99.0))],
    )
    .await;

    assert_eq!(
        ok!(store.metric_series("orders", "row_count", None)),
        vec![point(1, 10.0), point(2, 20.0), point(3, 30.0)]
    );
    // `since` is inclusive.
    let since = Some(point(2, 0.0).at);
    assert_eq!(
        ok!(store.metric_series("orders", "row_count", since)),
        vec![point(2, 20.0), point(3, 30.0)]
    );
    assert_eq!(
        ok!(store.metric_series("orders", "avg(amount)", Some(hour(3)))),
        vec![point(3, 3.0)]
    );
    assert_eq!(
        ok!(store.metric_series("customers", "row_count", None)),
        vec![point(2, 99.0)]
    );
    assert_eq!(
        ok!(store.metric_series("orders", "freshness", None)),
        vec![]
    );
    assert_eq!(ok!(store.metric_series("orders", "unknown", None)), vec![]);
    assert_eq!(
        ok!(store.metric_series("orders", "row_count", Some(hour(4)))),
        vec![]
    );
}

async fn anomaly_bands_and_feedback_are_kept(f: &Fixture) {
    let store = &*f.store;
    let hour = |h: i64| t0() + TimeDelta::hours(h);
    let judged = |value: f64, anomalous: bool| CheckResult {
        band: Some(Band {
            lower: 90.0,
            upper: 110.0,
            anomalous,
        }),
        ..check("orders", "row_count", Outcome::Pass, Some(value))
    };
    record(
        store,
        "orders",
        hour(1),
        &[check("orders", "row_count", Outcome::Pass, Some(95.0))],
    )
    .await;
    record(store, "orders", hour(2), &[judged(100.0, false)]).await;
    let spike = record(store, "orders", hour(3), &[judged(500.0, true)]).await;

    // The band is kept with the result and with its point.
    let results = all_results(store, &ResultFilter::default()).await;
    let spike_result = results
        .iter()
        .find(|r| r.run_id == spike.id)
        .expect("the spike");
    assert_eq!(spike_result.result.band, judged(500.0, true).band);
    let series = ok!(store.metric_series("orders", "row_count", None));
    let flags: Vec<_> = series
        .iter()
        .map(|p| (p.value, p.lower, p.upper, p.anomalous, p.trains()))
        .collect();
    assert_eq!(
        flags,
        vec![
            (95.0, None, None, false, true),
            (100.0, Some(90.0), Some(110.0), false, true),
            (500.0, Some(90.0), Some(110.0), true, false),
        ]
    );

    // Feedback on the spike's result marks its point; the detector then learns from it.
    ok!(store.mark_result(spike_result.id, Some(Feedback::Expected)));
    let history = ok!(store.metric_history("orders", "row_count", 2));
    assert_eq!(
        history.iter().map(|p| p.value).collect::<Vec<_>>(),
        vec![100.0, 500.0]
    );
    assert_eq!(history[1].feedback, Some(Feedback::Expected));
    assert!(history[1].trains());
    ok!(store.mark_result(spike_result.id, Some(Feedback::Incident)));
    assert!(!ok!(store.metric_history("orders", "row_count", 1))[0].trains());
    ok!(store.mark_result(spike_result.id, None));
    assert_eq!(
        ok!(store.metric_history("orders", "row_count", 1))[0].feedback,
        None
    );
    assert!(matches!(
        store.mark_result(999_999, Some(Feedback::Incident)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        ok!(store.metric_history("orders", "row_count", 10)).len(),
        3
    );
    assert_eq!(
        ok!(store.metric_history("unknown", "row_count", 10)),
        vec![]
    );

    // An accepted level shift marks the anomalies from its start on, and only those.
    ok!(store.accept_shift("orders", "row_count", hour(2)));
    let shifts: Vec<_> = ok!(store.metric_history("orders", "row_count", 10))
        .iter()
        .map(|p| (p.value, p.shift, p.trains()))
        .collect();
    assert_eq!(
        shifts,
        vec![
            (95.0, false, true),
            (100.0, false, true),
            (500.0, true, true)
        ]
    );
}

on_each_store!(
    anomaly_bands_and_feedback_are_kept,
    postgres: postgres_anomaly_bands_and_feedback_are_kept,
    sqlite: sqlite_anomaly_bands_and_feedback_are_kept,
);

on_each_store!(
    metric_series_are_ordered_by_time,
    postgres: postgres_metric_series_are_ordered_by_time,
    sqlite: sqlite_metric_series_are_ordered_by_time,
);
