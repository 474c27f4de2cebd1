//! Loading whole projects from disk: the CHECKS.md example, the example suite, project
//! discovery, and the diagnostics corpus in `tests/corpus` (which the CLI test also runs).

use std::fs;

use super::user_sql::Grammar;
use super::*;

/// Where the diagnostics corpus lives; each sub-directory is a case with an `expected.txt`.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus")
}

/// What `tidemark validate <case>` prints to stderr, run from the corpus directory: each
/// diagnostic, then the summary line the CLI adds.
fn validate_output(case: &str) -> Vec<String> {
    let corpus = corpus_dir();
    let prefix = format!("{}/", corpus.display());
    let diagnostics = match load_with_env(&corpus.join(case), &|_| None) {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics,
    };
    let mut lines: Vec<String> = diagnostics
        .iter()
        .map(|diagnostic| diagnostic.to_string().replace(&prefix, ""))
        .collect();
    let n = lines.len();
    lines.push(format!(
        "{n} {} found",
        if n == 1 { "problem" } else { "problems" }
    ));
    lines
}

/// Set TIDEMARK_BLESS_CORPUS=1 to rewrite the expected files after a deliberate change;
/// review the diff before committing it.
#[test]
fn corpus_cases_print_their_expected_diagnostics() {
    let mut cases: Vec<String> = fs::read_dir(corpus_dir())
        .expect("tests/corpus exists")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "the corpus has {} cases", cases.len());
    let bless = std::env::var_os("TIDEMARK_BLESS_CORPUS").is_some();
    for case in cases {
        let actual = validate_output(&case);
        let expected_file = corpus_dir().join(&case).join("expected.txt");
        if bless {
            fs::write(&expected_file, actual.join("\n") + "\n").expect("write expected.txt");
            continue;
        }
        let expected = fs::read_to_string(&expected_file).expect("expected.txt exists");
        let expected: Vec<&str> = expected.lines().collect();
        assert_eq!(actual, expected, "case {case}");
    }
}

/// Writes `files` (path, contents) under a fresh temporary directory.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (path, contents) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().expect("files have a parent")).expect("mkdir");
        fs::write(path, contents).expect("write");
    }
    dir
}

/// Loads a project, returning the diagnostics with the temporary directory cut off.
fn problems(dir: &tempfile::TempDir, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let prefix = format!("{}/", dir.path().display());
    match load_with_env(dir.path(), env) {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics
            .iter()
            .map(|diagnostic| diagnostic.to_string().replace(&prefix, ""))
            .collect(),
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

const CHECKS_MD_PROJECT: &str = r#"version: 1
store: ${TIDEMARK_STORE_URL:-sqlite://.tidemark/store.db}   # or postgres://…
warehouses:
  main:
    url: ${WAREHOUSE_URL}            # postgres:// mysql:// sqlite:// (more to come)
    max_connections: 4
    query_timeout: 5m
defaults:
  schedule: "0 * * * *"              # standard 5-field cron, UTC unless timezone is given
  timezone: UTC
channels:
  data-eng: { slack: { webhook_url: ${SLACK_WEBHOOK_URL} } }
  oncall:   { email: { to: [oncall@example.com] } }
smtp: { url: ${SMTP_URL}, from: tidemark@example.com }
owners:
  orders-team: { channels: [data-eng, oncall] }
checks: [checks/]                   # files or folders of dataset files
"#;

const CHECKS_MD_DATASET: &str = r#"dataset: analytics.orders            # schema.table (or table) in the warehouse, written as the
                                     # warehouse spells it: `heldout.Order Items` is quoted for you
warehouse: main                      # optional when there is one warehouse
owner: orders-team
schedule: "*/15 * * * *"             # optional, overrides defaults
tags: [tier-1]
upstream: [raw.order_events]         # declared lineage
filter: "region <> 'test'"           # optional SQL predicate applied to every check
sla:
  freshness: { column: updated_at, within: 2h }   # breach opens an incident and alerts
checks:
  - row_count: { min: 1 }
  - row_count: { anomaly: {} }                      # statistical, learned from history
  - freshness: { column: updated_at, warn_after: 1h, fail_after: 6h }
  - schema:
      columns: { order_id: integer, status: text }  # declared expectation (type families)
      on_added: warn                                # drift vs the last snapshot
      on_removed: fail
      on_type_changed: fail
  - missing_count: { column: customer_id, max: 0 }
  - missing_percent: { column: customer_id, max: 1.0 }
  - duplicate_count: { columns: [order_id], max: 0 }
  - invalid_count: { column: status, valid_values: [placed, shipped, delivered, cancelled], max: 0 }
  - min: { column: amount, min: 0 }
  - avg: { column: amount, between: [10, 500] }
  - avg: { column: amount, anomaly: { sensitivity: 3 } }
  - sql_metric: { name: orphan_orders, query: "select count(*) from …", max: 0 }
"#;

fn checks_md_env(name: &str) -> Option<String> {
    match name {
        "WAREHOUSE_URL" => Some("postgres://tidemark:hunter2@db/shop".to_owned()),
        "SLACK_WEBHOOK_URL" => Some("https://hooks.slack.com/services/T/B/X".to_owned()),
        "SMTP_URL" => Some("smtp://mail.internal:25".to_owned()),
        _ => None,
    }
}

fn fail(bound: Bound) -> Thresholds {
    Thresholds {
        fail: Some(bound),
        ..Thresholds::default()
    }
}

#[test]
fn the_checks_md_example_loads_into_the_expected_model() {
    let dir = project(&[
        ("tidemark.yml", CHECKS_MD_PROJECT),
        ("checks/orders.yml", CHECKS_MD_DATASET),
    ]);
    let project = load_with_env(dir.path(), &checks_md_env).expect("the example is valid");

    assert_eq!(project.root, dir.path());
    assert_eq!(project.file, dir.path().join("tidemark.yml"));
    assert_eq!(
        project.store.as_ref().map(Secret::expose),
        Some("sqlite://.tidemark/store.db")
    );
    let main = &project.warehouses["main"];
    assert_eq!(main.url.expose(), "postgres://tidemark:hunter2@db/shop");
    assert_eq!(main.max_connections, 4);
    assert_eq!(main.query_timeout, std::time::Duration::from_secs(300));
    assert_eq!((main.location.line, main.location.column), (5, 5));
    assert_eq!(project.defaults.schedule.as_deref(), Some("0 * * * *"));
    assert_eq!(project.defaults.timezone, chrono_tz::UTC);
    assert!(matches!(
        &project.channels["data-eng"],
        Channel::Slack { webhook_url } if webhook_url.expose() == "https://hooks.slack.com/services/T/B/X"
    ));
    assert!(matches!(
        &project.channels["oncall"],
        Channel::Email { to } if to == &["oncall@example.com"]
    ));
    let smtp = project.smtp.as_ref().expect("smtp");
    assert_eq!(smtp.url.expose(), "smtp://mail.internal:25");
    assert_eq!(smtp.from, "tidemark@example.com");
    assert_eq!(
        project.owners["orders-team"].channels,
        ["data-eng", "oncall"]
    );

    let [dataset] = project.datasets.as_slice() else {
        panic!("one dataset, got {}", project.datasets.len());
    };
    assert_eq!(dataset.name, "analytics.orders");
    assert_eq!(
        dataset.table,
        TableRef {
            schema: Some("analytics".into()),
            table: "orders".into(),
            files: None,
        }
    );
    assert_eq!(dataset.warehouse, "main");
    assert_eq!(dataset.owner.as_deref(), Some("orders-team"));
    assert_eq!(dataset.schedule.as_deref(), Some("*/15 * * * *"));
    assert_eq!(dataset.timezone, None);
    assert_eq!(dataset.tags, ["tier-1"]);
    assert_eq!(dataset.upstream, ["raw.order_events"]);
    assert_eq!(dataset.filter.as_deref(), Some("region <> 'test'"));
    let sla = dataset
        .sla
        .as_ref()
        .and_then(|sla| sla.freshness.as_ref())
        .expect("sla");
    assert_eq!(sla.column, "updated_at");
    assert_eq!(sla.within, Some(std::time::Duration::from_secs(7_200)));
    assert_eq!(sla.fresh_by, None);
    assert_eq!((dataset.location.line, dataset.location.column), (1, 10));

    let text = |values: &[&str]| values.iter().map(|v| Literal::Text((*v).into())).collect();
    let expected: Vec<(&str, CheckKind, Thresholds, usize)> = vec![
        ("row_count", CheckKind::RowCount, fail(Bound::Min(1.0)), 12),
        (
            "row_count #2",
            CheckKind::RowCount,
            Thresholds {
                anomaly: Some(AnomalySpec::default()),
                ..Thresholds::default()
            },
            13,
        ),
        (
            "freshness(updated_at)",
            CheckKind::Freshness {
                column: "updated_at".into(),
            },
            Thresholds {
                warn: Some(Bound::Max(3_600.0)),
                fail: Some(Bound::Max(21_600.0)),
                anomaly: None,
            },
            14,
        ),
        (
            "schema",
            CheckKind::Schema {
                columns: vec![
                    ("order_id".into(), DeclaredType::Family(TypeFamily::Integer)),
                    ("status".into(), DeclaredType::Family(TypeFamily::Text)),
                ],
                on_added: Some(Level::Warn),
                on_removed: Some(Level::Fail),
                on_type_changed: Some(Level::Fail),
            },
            Thresholds::default(),
            15,
        ),
        (
            "missing_count(customer_id)",
            CheckKind::MissingCount {
                column: "customer_id".into(),
                missing_values: vec![],
            },
            fail(Bound::Max(0.0)),
            20,
        ),
        (
            "missing_percent(customer_id)",
            CheckKind::MissingPercent {
                column: "customer_id".into(),
                missing_values: vec![],
            },
            fail(Bound::Max(1.0)),
            21,
        ),
        (
            "duplicate_count(order_id)",
            CheckKind::DuplicateCount {
                columns: vec!["order_id".into()],
                per_partition: false,
            },
            fail(Bound::Max(0.0)),
            22,
        ),
        (
            "invalid_count(status)",
            CheckKind::InvalidCount {
                column: "status".into(),
                validity: Validity {
                    values: Some(text(&["placed", "shipped", "delivered", "cancelled"])),
                    ..Validity::default()
                },
            },
            fail(Bound::Max(0.0)),
            23,
        ),
        (
            "min(amount)",
            CheckKind::Aggregate {
                function: Aggregate::Min,
                column: "amount".into(),
            },
            fail(Bound::Min(0.0)),
            24,
        ),
        (
            "avg(amount)",
            CheckKind::Aggregate {
                function: Aggregate::Avg,
                column: "amount".into(),
            },
            fail(Bound::Between(10.0, 500.0)),
            25,
        ),
        (
            "avg(amount) #2",
            CheckKind::Aggregate {
                function: Aggregate::Avg,
                column: "amount".into(),
            },
            Thresholds {
                anomaly: Some(AnomalySpec {
                    sensitivity: Some("3".into()),
                    direction: None,
                    watch: AnomalyWatch::Value,
                }),
                ..Thresholds::default()
            },
            26,
        ),
        (
            "orphan_orders",
            CheckKind::SqlMetric {
                query: "select count(*) from …".into(),
            },
            fail(Bound::Max(0.0)),
            27,
        ),
        // The freshness SLA is measured by a check of its own, pointing at the SLA.
        (
            "sla:freshness",
            CheckKind::Freshness {
                column: "updated_at".into(),
            },
            fail(Bound::Max(7_200.0)),
            10,
        ),
    ];
    let actual: Vec<(&str, CheckKind, Thresholds, usize)> = dataset
        .checks
        .iter()
        .map(|check| {
            (
                check.name.as_str(),
                check.kind.clone(),
                check.thresholds.clone(),
                check.location.line,
            )
        })
        .collect();
    assert_eq!(actual, expected);
    let written = dataset
        .checks
        .iter()
        .filter(|c| c.name != Sla::FRESHNESS_CHECK);
    assert!(written.clone().all(|check| check.location.column == 5
        && check.severity.is_none()
        && check.filter.is_none()));
}

#[test]
fn the_example_suite_in_the_repository_is_valid() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../checks");
    let project = load_with_env(&suite, &no_env).expect("checks/ is valid");
    assert!(!project.datasets.is_empty());
}

#[test]
fn a_missing_project_file_is_one_diagnostic_without_a_location() {
    let dir = project(&[("checks/orders.yml", "dataset: orders\n")]);
    let start = dir.path().join("checks");
    match load_with_env(&start, &no_env) {
        Err(diagnostics) => assert_eq!(
            diagnostics,
            vec![Diagnostic {
                location: None,
                message: format!(
                    "no tidemark.yml found in {} or any parent directory",
                    start.display()
                ),
            }]
        ),
        Ok(_) => panic!("no project file should be found"),
    }
}

const MINIMAL_PROJECT: &str = "version: 1\nwarehouses:\n  main: { url: 'sqlite://w.db' }\n";
const ORDERS: &str = "dataset: orders\nchecks:\n  - row_count: { min: 1 }\n";

#[test]
fn the_project_is_found_from_a_subdirectory() {
    let dir = project(&[
        ("tidemark.yml", MINIMAL_PROJECT),
        ("checks/a/orders.yml", ORDERS),
    ]);
    let project = load_with_env(&dir.path().join("checks/a"), &no_env).expect("valid");
    assert_eq!(project.file, dir.path().join("tidemark.yml"));
    assert_eq!(project.datasets.len(), 1);
}

#[test]
fn folders_are_walked_recursively_in_sorted_order_skipping_hidden_entries() {
    let dataset = |name: &str| format!("dataset: {name}\nchecks:\n  - row_count: {{ min: 1 }}\n");
    let dir = project(&[
        ("tidemark.yml", MINIMAL_PROJECT),
        ("checks/b.yaml", &dataset("b")),
        ("checks/a/z.yml", &dataset("az")),
        ("checks/a.yml", &dataset("a")),
        ("checks/.hidden/h.yml", &dataset("hidden")),
        ("checks/.swap.yml", &dataset("swap")),
        ("checks/notes.txt", "not yaml"),
    ]);
    let project = load_with_env(dir.path(), &no_env).expect("valid");
    let names: Vec<&str> = project.datasets.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["az", "a", "b"]);
}

#[test]
fn listed_files_load_once_and_missing_paths_are_reported_at_their_item() {
    let dir = project(&[
        (
            "tidemark.yml",
            &format!("{MINIMAL_PROJECT}checks: [checks/, checks/orders.yml, nope/]\n"),
        ),
        ("checks/orders.yml", ORDERS),
    ]);
    assert_eq!(
        problems(&dir, &no_env),
        [
            "tidemark.yml:4:38: 'nope/' does not exist (paths in 'checks' are relative to the folder of tidemark.yml)"
        ]
    );
}

#[test]
fn a_missing_default_checks_folder_is_reported() {
    let dir = project(&[("tidemark.yml", MINIMAL_PROJECT)]);
    assert_eq!(
        problems(&dir, &no_env),
        [
            "tidemark.yml:1:1: no 'checks/' folder next to tidemark.yml: create it for dataset files, or list them under 'checks'"
        ]
    );
}

#[test]
fn empty_files_say_how_to_start() {
    let dir = project(&[
        ("tidemark.yml", MINIMAL_PROJECT),
        ("checks/orders.yml", "# todo\n"),
    ]);
    assert_eq!(
        problems(&dir, &no_env),
        [
            "checks/orders.yml:1:1: the file is empty: a dataset file starts with 'dataset: schema.table'"
        ]
    );
}

#[test]
fn substituted_values_are_typed_after_substitution_and_never_echoed() {
    let project_file = "version: 1\nwarehouses:\n  main:\n    url: ${URL}\n    max_connections: ${MAXC:-8}\n    query_timeout: ${TIMEOUT}\n";
    let dir = project(&[
        ("tidemark.yml", project_file),
        ("checks/orders.yml", ORDERS),
    ]);
    let env = |name: &str| match name {
        "URL" => Some("oracle://scott:tiger@db".to_owned()),
        "TIMEOUT" => Some("10 minutes hunter2".to_owned()),
        _ => None,
    };
    assert_eq!(
        problems(&dir, &env),
        [
            "tidemark.yml:4:10: warehouse main: 'url' must start with postgres://, postgresql://, mysql://, mariadb://, sqlite:, duckdb: or sc://",
            "tidemark.yml:6:20: warehouse main: invalid duration (a value from the environment) for 'query_timeout': remove the spaces (e.g. 2h, 1h30m)",
        ]
    );
    let env = |name: &str| (name == "URL").then(|| "sqlite://w.db".to_owned());
    let dir = project(&[
        ("tidemark.yml", &project_file.replace("${TIMEOUT}", "1m")),
        ("checks/orders.yml", ORDERS),
    ]);
    let loaded = load_with_env(dir.path(), &env).expect("valid");
    assert_eq!(loaded.warehouses["main"].max_connections, 8);
}

#[test]
fn the_only_warehouse_is_the_default_and_dataset_names_are_unique_across_warehouses() {
    let two =
        "version: 1\nwarehouses:\n  a: { url: 'sqlite://a.db' }\n  b: { url: 'sqlite://b.db' }\n";
    let dir = project(&[
        ("tidemark.yml", two),
        (
            "checks/a.yml",
            "dataset: orders\nwarehouse: a\nchecks: []\n",
        ),
        ("checks/b.yml", "dataset: orders\nwarehouse: b\n"),
    ]);
    assert_eq!(
        problems(&dir, &no_env),
        [
            "checks/b.yml:1:10: dataset orders: the name is already used for warehouse a at checks/a.yml:1:10; dataset names must be unique in a project"
        ]
    );

    let dir = project(&[
        ("tidemark.yml", MINIMAL_PROJECT),
        ("checks/orders.yml", ORDERS),
    ]);
    let loaded = load_with_env(dir.path(), &no_env).expect("valid");
    assert_eq!(loaded.datasets[0].warehouse, "main");
}

#[test]
fn a_broken_project_file_still_lets_dataset_files_be_checked() {
    let project_file = "version: 1\nwarehouses:\n  main: { url: 'ftp://x' }\nowners:\n  team: { channels: [nope] }\n";
    let dataset = "dataset: orders\nwarehouse: main\nowner: team\nchecks:\n  - row_count: {}\n";
    let dir = project(&[
        ("tidemark.yml", project_file),
        ("checks/orders.yml", dataset),
    ]);
    assert_eq!(
        problems(&dir, &no_env),
        [
            "checks/orders.yml:5:5: dataset orders, check row_count: missing threshold: add one of min, max, between, equals, anomaly, or warn/fail levels",
            "tidemark.yml:3:16: warehouse main: 'url' must start with postgres://, postgresql://, mysql://, mariadb://, sqlite:, duckdb: or sc://",
            "tidemark.yml:5:22: owner team: unknown channel 'nope' (tidemark.yml declares no channels)",
        ]
    );
}

#[test]
fn project_file_syntax_errors_stop_before_dataset_files() {
    let dir = project(&[
        ("tidemark.yml", "version: [1\n"),
        ("checks/orders.yml", "x: ["),
    ]);
    assert_eq!(
        problems(&dir, &no_env),
        ["tidemark.yml:2:1: invalid YAML: while parsing a flow sequence, expected ',' or ']'"]
    );
}

/// Runs the parser and the dataset reader on `source`, as loading a file does.
fn read_dataset(source: &str) {
    let document = yaml::parse(source);
    let Some(root) = document.root else {
        return;
    };
    let grammars = [("main".to_owned(), Grammar::Postgres)].into();
    let declared = Declared {
        warehouses: vec!["main"],
        grammars: &grammars,
        owners: vec!["orders-team"],
        project_dir: Path::new("/project"),
    };
    let mut diagnostics = Vec::new();
    let mut cx = Cx::new(
        Arc::new(PathBuf::from("d.yml")),
        &checks_md_env,
        &mut diagnostics,
    );
    dataset::load(&mut cx, &root, &declared);
}

#[test]
fn truncated_and_mangled_files_never_panic() {
    let source = CHECKS_MD_DATASET;
    let boundaries: Vec<usize> = source.char_indices().map(|(index, _)| index).collect();
    for &end in &boundaries {
        read_dataset(&source[..end]);
    }
    // Swap each character for YAML punctuation and other troublemakers.
    for &at in boundaries.iter().step_by(3) {
        let width = source[at..].chars().next().map_or(1, char::len_utf8);
        for replacement in ["{", "]", ":", "- ", "\"", "&a", "*a", "\t", "${", "\n  "] {
            let mangled = format!("{}{replacement}{}", &source[..at], &source[at + width..]);
            read_dataset(&mangled);
        }
    }
}

#[test]
fn retention_defaults_and_overrides() {
    let with = |retention: &str| {
        let config =
            format!("version: 1\nwarehouses:\n  main: {{ url: 'sqlite://w.db' }}\n{retention}");
        project(&[
            ("tidemark.yml", config.as_str()),
            ("checks/orders.yml", ORDERS),
        ])
    };
    let default = load_with_env(with("").path(), &no_env).expect("valid");
    assert_eq!(default.retention, Retention::default());
    let kept = load_with_env(with("retention: { results: 30d }\n").path(), &no_env).expect("valid");
    assert_eq!(
        kept.retention.results,
        std::time::Duration::from_secs(30 * 86_400)
    );
    assert_eq!(kept.retention.metrics, Retention::default().metrics);
    let dir = with("retention: { raw: 30d }\n");
    assert_eq!(
        problems(&dir, &no_env),
        ["tidemark.yml:4:14: unknown key 'raw' (expected one of: results, metrics)"]
    );
}

const SLA_DATASET: &str = "dataset: orders
sla:
  freshness: { column: updated_at, within: 6h, fresh_by: \"09:00 Europe/Berlin\" }
  checks: [row_count]
  severity: critical
checks:
  - row_count: { min: 1 }
";

#[test]
fn slas_load_with_their_measuring_check() {
    let dir = project(&[
        ("tidemark.yml", MINIMAL_PROJECT),
        ("checks/orders.yml", SLA_DATASET),
    ]);
    let project = load_with_env(dir.path(), &no_env).expect("valid");
    let dataset = &project.datasets[0];
    let sla = dataset.sla.as_ref().expect("an SLA");
    assert_eq!(sla.severity, Severity::Critical);
    assert_eq!(sla.checks, ["row_count"]);
    let freshness = sla.freshness.as_ref().expect("a freshness SLA");
    assert_eq!(
        freshness.within,
        Some(std::time::Duration::from_secs(6 * 3_600))
    );
    assert_eq!(
        freshness.fresh_by.map(|f| f.to_string()).as_deref(),
        Some("09:00 Europe/Berlin")
    );
    assert!(sla.covers("row_count") && sla.covers(Sla::FRESHNESS_CHECK));
    let measure = dataset.checks.last().expect("the SLA's check");
    assert_eq!(measure.name, Sla::FRESHNESS_CHECK);
    assert_eq!(measure.severity, Some(Severity::Critical));
    assert_eq!(measure.thresholds, fail(Bound::Max(21_600.0)));
    assert_eq!((measure.location.line, measure.location.column), (3, 14));
}

#[test]
fn sla_mistakes_are_located() {
    let dataset = "dataset: orders
sla:
  freshness: { column: updated_at, fresh_by: \"9am\" }
  checks: [row_cnt]
  severity: urgent
checks:
  - row_count: { min: 1 }
";
    let dir = project(&[
        ("tidemark.yml", MINIMAL_PROJECT),
        ("checks/orders.yml", dataset),
    ]);
    assert_eq!(
        problems(&dir, &no_env),
        [
            "checks/orders.yml:3:46: dataset orders: invalid value '9am' for 'fresh_by': \
             expected a time of day HH:MM and a timezone, e.g. \"09:00 Europe/Berlin\"",
            "checks/orders.yml:4:12: dataset orders: unknown check 'row_cnt' in 'checks' \
             (did you mean 'row_count'?)",
            "checks/orders.yml:5:13: dataset orders: invalid value 'urgent' for 'severity' \
             (expected one of: low, medium, high, critical)",
        ]
    );
    let neither = "dataset: orders\nsla:\n  freshness: { column: updated_at }\n";
    let dir = project(&[
        ("tidemark.yml", MINIMAL_PROJECT),
        ("checks/orders.yml", neither),
    ]);
    assert_eq!(
        problems(&dir, &no_env),
        [
            "checks/orders.yml:3:14: dataset orders: a freshness SLA needs 'within' (a duration), \
          'fresh_by' (a time of day), or both"
        ]
    );
    let zone =
        "dataset: orders\nsla:\n  freshness: { column: a, fresh_by: \"09:00 Europe/Berln\" }\n";
    let dir = project(&[
        ("tidemark.yml", MINIMAL_PROJECT),
        ("checks/orders.yml", zone),
    ]);
    assert_eq!(
        problems(&dir, &no_env),
        [
            "checks/orders.yml:3:37: dataset orders: unknown timezone 'Europe/Berln' in \
          'fresh_by' (did you mean 'Europe/Berlin'?)"
        ]
    );
}

#[test]
fn alerting_settings_load_and_refer_to_declared_channels() {
    let config = "version: 1
warehouses: { main: { url: 'sqlite://w.db' } }
dashboard_url: https://tidemark.example.com/
channels:
  team: { slack: { webhook_url: 'https://hooks.example/a' } }
alerts:
  renotify_after: 1h
  flap_window: 30m
  max_attempts: 3
  routes:
    - { tags: [tier-1], min_severity: high, channels: [team] }
    - { channels: [tema] }
";
    let dir = project(&[("tidemark.yml", config), ("checks/orders.yml", ORDERS)]);
    assert_eq!(
        problems(&dir, &no_env),
        ["tidemark.yml:12:20: unknown channel 'tema' (did you mean 'team'?)"]
    );
    let fixed = config.replace("tema", "team");
    let dir = project(&[
        ("tidemark.yml", fixed.as_str()),
        ("checks/orders.yml", ORDERS),
    ]);
    let project = load_with_env(dir.path(), &no_env).expect("valid");
    assert_eq!(project.dashboard_url, "https://tidemark.example.com");
    assert_eq!(
        project.alerts.renotify_after,
        std::time::Duration::from_secs(3_600)
    );
    assert_eq!(
        project.alerts.flap_window,
        std::time::Duration::from_secs(1_800)
    );
    assert_eq!(project.alerts.max_attempts, 3);
    assert_eq!(
        project.alerts.routes[0],
        AlertRoute {
            tags: vec!["tier-1".into()],
            min_severity: Some(Severity::High),
            channels: vec!["team".into()],
        }
    );
    let defaults = project_defaults();
    assert_eq!(defaults.dashboard_url, Project::DEFAULT_DASHBOARD_URL);
    assert_eq!(defaults.alerts, AlertPolicy::default());
}

fn project_defaults() -> Project {
    let dir = project(&[
        ("tidemark.yml", MINIMAL_PROJECT),
        ("checks/orders.yml", ORDERS),
    ]);
    load_with_env(dir.path(), &no_env).expect("valid")
}

#[test]
fn an_inbox_channel_takes_no_settings() {
    let config = |inbox: &str| {
        format!(
            "version: 1\nwarehouses: {{ main: {{ url: 'sqlite://w.db' }} }}\n\
             channels:\n  kept: {inbox}\nowners:\n  shop: {{ channels: [kept] }}\n"
        )
    };
    let dir = project(&[
        ("tidemark.yml", &config("{ inbox: {} }")),
        ("checks/orders.yml", ORDERS),
    ]);
    let loaded = load_with_env(dir.path(), &no_env).expect("valid");
    assert!(matches!(loaded.channels["kept"], Channel::Inbox));
    let dir = project(&[
        (
            "tidemark.yml",
            &config("{ inbox: { to: [a@example.com] } }"),
        ),
        ("checks/orders.yml", ORDERS),
    ]);
    let problems = problems(&dir, &no_env);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("'to'"), "{problems:?}");
}
