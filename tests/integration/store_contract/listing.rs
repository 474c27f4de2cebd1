//! Listing results and runs: filters and paging.

use chrono::{DateTime, TimeDelta, Utc};
use tidemark::results::{CheckResult, Outcome};
use tidemark::store::{
    Claim, NewRun, Page, Paged, ResultFilter, RunFilter, RunStatus, Store, StoredResult, Trigger,
};
use uuid::Uuid;

use super::{Fixture, all_results, all_runs, check, ids, new_run, record, run_ids, t0, walk};

const CHECKS: [&str; 3] = ["row_count", "nulls(email)", "freshness"];
const OUTCOMES: [Outcome; 4] = [Outcome::Pass, Outcome::Warn, Outcome::Fail, Outcome::Error];

/// Six runs an hour apart, alternating orders and customers, three results each with
/// outcomes cycling pass, warn, fail, error: eighteen results. Returns the runs.
async fn seed_history(store: &Store) -> Vec<NewRun> {
    let mut runs = Vec::new();
    for i in 0..6 {
        let dataset = if i % 2 == 0 { "orders" } else { "customers" };
        let results: Vec<CheckResult> = CHECKS
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let n = i * 3 + j;
                check(dataset, name, OUTCOMES[n % 4], Some(n as f64))
            })
            .collect();
        let started = t0() + TimeDelta::hours(i as i64);
        runs.push(record(store, dataset, started, &results).await);
    }
    runs
}

/// When seeded run `i` finished (its results' `observed_at`).
fn observed(i: i64) -> DateTime<Utc> {
    t0() + TimeDelta::hours(i) + TimeDelta::seconds(1)
}

async fn results_filter_and_page(f: &Fixture) {
    let store = &*f.store;
    let runs = seed_history(store).await;
    let everything = all_results(store, &ResultFilter::default()).await;
    // Newest first, exactly as written.
    let mut written = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        for (j, name) in CHECKS.iter().enumerate() {
            let outcome = OUTCOMES[(i * 3 + j) % 4];
            written.push((run.id, name.to_string(), outcome, observed(i as i64)));
        }
    }
    written.reverse();
    let got: Vec<_> = everything
        .iter()
        .map(|r| {
            (
                r.run_id,
                r.result.check.clone(),
                r.result.outcome,
                r.observed_at,
            )
        })
        .collect();
    assert_eq!(got, written);
    assert!(everything.windows(2).all(|w| w[0].id > w[1].id));

    // Each filter returns exactly the matching results, newest first.
    let keep = |pred: &dyn Fn(&StoredResult) -> bool| -> Vec<i64> {
        everything
            .iter()
            .filter(|r| pred(r))
            .map(|r| r.id)
            .collect()
    };
    let cases: Vec<(ResultFilter, Vec<i64>, usize)> = vec![
        (
            ResultFilter {
                dataset: Some("orders".into()),
                ..ResultFilter::default()
            },
            keep(&|r| r.result.dataset == "orders"),
            9,
        ),
        (
            ResultFilter {
                check: Some("nulls(email)".into()),
                ..ResultFilter::default()
            },
            keep(&|r| r.result.check == "nulls(email)"),
            6,
        ),
        (
            ResultFilter {
                outcome: Some(Outcome::Fail),
                ..ResultFilter::default()
            },
            keep(&|r| r.result.outcome == Outcome::Fail),
            4,
        ),
        (
            ResultFilter {
                run_id: Some(runs[3].id),
                ..ResultFilter::default()
            },
            keep(&|r| r.run_id == runs[3].id),
            3,
        ),
        // since is inclusive, until exclusive
        (
            ResultFilter {
                since: Some(observed(2)),
                until: Some(observed(4)),
                ..ResultFilter::default()
            },
            keep(&|r| r.run_id == runs[2].id || r.run_id == runs[3].id),
            6,
        ),
        (
            ResultFilter {
                dataset: Some("customers".into()),
                check: Some("row_count".into()),
                outcome: Some(Outcome::Warn),
                since: Some(observed(1)),
                ..ResultFilter::default()
            },
            keep(&|r| {
                r.result.dataset == "customers"
                    && r.result.check == "row_count"
                    && r.result.outcome == Outcome::Warn
            }),
            1,
        ),
        (
            ResultFilter {
                dataset: Some("nobody".into()),
                ..ResultFilter::default()
            },
            vec![],
            0,
        ),
    ];
    for (filter, want, count) in cases {
        assert_eq!(want.len(), count, "{filter:?}");
        assert_eq!(ids(&all_results(store, &filter).await), want, "{filter:?}");
    }

    // Walking pages gives every result once, in order, and stops.
    let all_ids = ids(&everything);
    let no_filter = ResultFilter::default();
    let by_id = |r: &StoredResult| r.id;
    let (keys, sizes) = walk(4, by_id, |page| store.results(&no_filter, page)).await;
    assert_eq!((keys, sizes), (all_ids.clone(), vec![4, 4, 4, 4, 2]));
    // A last page that is exactly full still ends the walk.
    let (keys, sizes) = walk(6, by_id, |page| store.results(&no_filter, page)).await;
    assert_eq!((keys, sizes), (all_ids.clone(), vec![6, 6, 6]));
    let orders = ResultFilter {
        dataset: Some("orders".into()),
        ..ResultFilter::default()
    };
    let (keys, sizes) = walk(5, by_id, |page| store.results(&orders, page)).await;
    assert_eq!(keys, keep(&|r| r.result.dataset == "orders"));
    assert_eq!(sizes, vec![5, 4]);
    // Limits are clamped into 1..=MAX_LIMIT.
    let (_, sizes) = walk(0, by_id, |page| store.results(&orders, page)).await;
    assert_eq!(sizes, vec![1; 9]);
    let huge = ok!(store.results(
        &no_filter,
        Page {
            limit: 100_000,
            before: None
        }
    ));
    assert_eq!((ids(&huge.items), huge.next), (all_ids.clone(), None));
    // `before` starts below any id, whether or not it exists.
    let middle = ok!(store.results(
        &no_filter,
        Page {
            limit: 3,
            before: Some(all_ids[5])
        }
    ));
    assert_eq!(ids(&middle.items), all_ids[6..9].to_vec());
    assert_eq!(middle.next, Some(all_ids[8]));
    let past_the_end = ok!(store.results(
        &no_filter,
        Page {
            limit: 3,
            before: Some(all_ids[17])
        }
    ));
    assert_eq!(
        past_the_end,
        Paged {
            items: vec![],
            next: None
        }
    );
}

on_each_store!(
    results_filter_and_page,
    postgres: postgres_results_filter_and_page,
    sqlite: sqlite_results_filter_and_page,
);

async fn runs_filter_and_page(f: &Fixture) {
    let store = &*f.store;
    let mut seeded = seed_history(store).await;
    let manual = new_run("orders", Trigger::Manual, None, t0() + TimeDelta::hours(7));
    assert_eq!(ok!(store.start_run(&manual)), Claim::Started);
    seeded.push(manual.clone());
    let newest_first: Vec<Uuid> = seeded.iter().rev().map(|r| r.id).collect();

    let everything = all_runs(store, &RunFilter::default()).await;
    assert_eq!(run_ids(&everything), newest_first);

    // The runs' paging key is internal: collect ids page by page instead.
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = ok!(store.runs(&RunFilter::default(), Page { limit: 3, before }));
        pages.push(run_ids(&page.items));
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(pages.concat(), newest_first);

    let customers = RunFilter {
        dataset: Some("customers".into()),
        ..RunFilter::default()
    };
    assert_eq!(
        run_ids(&all_runs(store, &customers).await),
        [seeded[5].id, seeded[3].id, seeded[1].id]
    );
    let running_runs = RunFilter {
        status: Some(RunStatus::Running),
        ..RunFilter::default()
    };
    assert_eq!(run_ids(&all_runs(store, &running_runs).await), [manual.id]);
    let manual_orders = RunFilter {
        dataset: Some("orders".into()),
        trigger: Some(Trigger::Manual),
        status: Some(RunStatus::Running),
    };
    assert_eq!(run_ids(&all_runs(store, &manual_orders).await), [manual.id]);
    let scheduled = RunFilter {
        trigger: Some(Trigger::Schedule),
        ..RunFilter::default()
    };
    assert_eq!(all_runs(store, &scheduled).await, vec![]);
}

on_each_store!(
    runs_filter_and_page,
    postgres: postgres_runs_filter_and_page,
    sqlite: sqlite_runs_filter_and_page,
);
