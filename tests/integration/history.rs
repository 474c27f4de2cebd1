//! `tidemark run` keeps history: every run is recorded in the project's store (SQLite under
//! `.tidemark/` by default) unless `--no-store`, and the `schema` check judges drift against
//! the snapshot the previous run took.

use tidemark::store::{Page, ResultFilter, Store};

use crate::support::{Project, SqliteDb, assert_exit_code, result, runs_of, text};

const DRIFT: &str = "
dataset: items
checks:
  - row_count: { min: 1 }
  - schema:
      columns: { id: integer }
      on_added: warn
      on_removed: fail
      on_type_changed: fail
";

async fn items_warehouse() -> SqliteDb {
    let db = SqliteDb::new().await;
    db.exec("CREATE TABLE items (id INTEGER, name TEXT); INSERT INTO items VALUES (1, 'a');")
        .await;
    db
}

async fn open_default_store(project: &Project) -> Store {
    Store::open(None, project.path())
        .await
        .expect("open the project's store")
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_are_recorded_with_their_results() {
    let db = items_warehouse().await;
    let project = Project::with_datasets(&db.url, &[("items", DRIFT)]);
    let (code, doc) = crate::support::json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 0, &doc, "a first run passes");

    let store = open_default_store(&project).await;
    let runs = runs_of(&store, "items").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        runs[0].batch_id.to_string(),
        text(&doc["run_id"]),
        "the printed run_id"
    );
    assert_eq!(runs[0].dataset, "items");
    assert_eq!((runs[0].summary.pass, runs[0].summary.fail), (2, 0));
    let filter = ResultFilter {
        run_id: Some(runs[0].id),
        ..ResultFilter::default()
    };
    let results = store
        .results(
            &filter,
            Page {
                limit: 10,
                before: None,
            },
        )
        .await;
    let checks: Vec<String> = results
        .expect("list results")
        .items
        .into_iter()
        .map(|r| r.result.check)
        .collect();
    assert_eq!(checks.len(), 2);
    assert!(checks.contains(&"row_count".to_string()) && checks.contains(&"schema".to_string()));
    let series = store
        .metric_series("items", "row_count", None)
        .await
        .expect("series");
    assert_eq!(series.iter().map(|p| p.value).collect::<Vec<_>>(), [1.0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_drift_is_judged_against_the_previous_run() {
    let db = items_warehouse().await;
    let project = Project::with_datasets(&db.url, &[("items", DRIFT)]);
    let (_, first) = crate::support::json_run_async(project.path(), &[]).await;
    let message = text(&result(&first, None, "schema")["message"]).to_string();
    assert!(message.contains("first snapshot"), "{message}");

    // An added column warns.
    db.exec("ALTER TABLE items ADD COLUMN price REAL;").await;
    let (code, doc) = crate::support::json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 0, &doc, "an added column only warns");
    let schema = result(&doc, None, "schema");
    assert_eq!(schema["outcome"], "warn", "{schema}");
    assert_eq!(schema["message"], "column price was added (REAL)");

    // Unchanged since the last run: nothing to report.
    let (_, doc) = crate::support::json_run_async(project.path(), &[]).await;
    assert_eq!(result(&doc, None, "schema")["outcome"], "pass");

    // A removed column fails.
    db.exec("ALTER TABLE items DROP COLUMN name;").await;
    let (code, doc) = crate::support::json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 1, &doc, "a removed column fails");
    assert_eq!(
        result(&doc, None, "schema")["message"],
        "column name was removed"
    );

    let store = open_default_store(&project).await;
    let history = store.schema_history("items").await.expect("schema history");
    let names: Vec<Vec<&str>> = history
        .iter()
        .map(|s| s.columns.iter().map(|c| c.name.as_str()).collect())
        .collect();
    assert_eq!(
        names,
        [
            vec!["id", "price"],
            vec!["id", "name", "price"],
            vec!["id", "name"]
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_store_records_nothing() {
    let db = items_warehouse().await;
    let project = Project::with_datasets(&db.url, &[("items", DRIFT)]);
    let (code, doc) = crate::support::json_run_async(project.path(), &["--no-store"]).await;
    assert_exit_code(code, 0, &doc, "checks pass without a store");
    let message = text(&result(&doc, None, "schema")["message"]).to_string();
    assert!(message.contains("--no-store"), "{message}");
    assert!(
        !project.path().join(".tidemark").exists(),
        "no store was created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_store_is_an_error_that_says_what_to_do() {
    let db = items_warehouse().await;
    let url = serde_json::to_string(&db.url).expect("URL to JSON");
    let project = Project::builder()
        .config(&format!(
            "version: 1\nstore: postgres://tidemark:s3cret@127.0.0.1:1/store\nwarehouses:\n  main: {{ url: {url} }}\nchecks: [checks/]\n"
        ))
        .dataset("items", DRIFT)
        .build();
    let out = project.run(&["run"]);
    out.assert_code(2);
    assert!(out.stderr.contains("--no-store"), "{}", out.both());
    assert!(!out.both().contains("s3cret"), "{}", out.both());
    project.run(&["run", "--no-store"]).assert_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_and_prune_work_on_the_project_store() {
    let db = items_warehouse().await;
    let project = Project::with_datasets(&db.url, &[("items", DRIFT)]);
    let out = project.run(&["migrate"]);
    out.assert_code(0);
    assert_eq!(out.stdout.trim(), "the sqlite store is up to date");
    project.run(&["run"]).assert_code(0);
    // Within the default retention nothing goes.
    let out = project.run(&["prune"]);
    out.assert_code(0);
    assert_eq!(
        out.stdout.trim(),
        "pruned 0 runs, 0 results, 0 metric points, 0 schema snapshots, 0 resolved incidents, \
         0 lineage edges"
    );
    let store = open_default_store(&project).await;
    assert_eq!(runs_of(&store, "items").await.len(), 1);
}
