//! The command-line contract of CHECKS.md, black-box: exit codes, the JSON and JUnit
//! documents, selection by dataset and tag, unreachable warehouses, secrets, warn levels
//! and the `validate`, `explain` and `schema` commands.

use std::collections::BTreeSet;
use std::ops::Deref;

use serde_json::Value;

use crate::support::{
    Backend, Output, PgDb, Project, SqliteDb, TestDb, assert_exit_code, json_run_async,
    mysql_server_url, pg_server_url, result, result_lines, run_on_seeded, run_tidemark, summary,
    text, with_database,
};

/// alpha: 3 rows, one NULL name; beta: 2 rows; gamma: 1 row.
async fn sqlite_warehouse() -> SqliteDb {
    let db = SqliteDb::new().await;
    db.exec(
        "CREATE TABLE alpha (id INTEGER, name TEXT, amount INTEGER);
         INSERT INTO alpha VALUES (1, 'a', 10), (2, 'b', 20), (3, NULL, 30);
         CREATE TABLE beta (id INTEGER);
         INSERT INTO beta VALUES (1), (2);
         CREATE TABLE gamma (id INTEGER);
         INSERT INTO gamma VALUES (1);",
    )
    .await;
    db
}

/// A project whose warehouse `main` is a fresh [`sqlite_warehouse`]. The database is removed
/// with this value, so it lives exactly as long as the project; everything else is the
/// [`Project`]'s, through `Deref`.
struct SqliteProject {
    project: Project,
    _warehouse: SqliteDb,
}

impl SqliteProject {
    /// One dataset file per `(file stem, yaml)`.
    async fn new(datasets: &[(&str, &str)]) -> SqliteProject {
        let warehouse = sqlite_warehouse().await;
        SqliteProject {
            project: Project::with_datasets(&warehouse.url, datasets),
            _warehouse: warehouse,
        }
    }
}

impl Deref for SqliteProject {
    type Target = Project;

    fn deref(&self) -> &Project {
        &self.project
    }
}

/// Runs `tidemark COMMAND <project directory>` from another directory: the directory can be
/// given as an argument instead of being the working directory.
fn run_from_elsewhere(project: &Project, command: &str) -> Output {
    let dir = project.path().to_str().expect("UTF-8 temp path");
    run_tidemark(std::env::temp_dir().as_path(), &[command, dir])
}

/// A set of names, to compare without regard to order.
fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

const ALL_PASS: &str = "
dataset: alpha
checks:
  - row_count: { min: 1 }
  - missing_count: { column: name, max: 1 }
";

#[tokio::test(flavor = "multi_thread")]
async fn exit_code_0_when_everything_passes() {
    let project = SqliteProject::new(&[("alpha", ALL_PASS)]).await;
    let (code, doc) = project.json_run(&[]);
    assert_exit_code(code, 0, &doc, "every check passes");
    assert_eq!(summary(&doc), [2, 0, 0, 0]);
    // The human format follows the same exit codes.
    project.run(&["run"]).assert_code(0);
    run_from_elsewhere(&project, "run").assert_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_code_1_when_a_check_fails() {
    let yaml = "
dataset: alpha
checks:
  - row_count: { max: 1 }
  - missing_count: { column: name, max: 5 }
";
    let project = SqliteProject::new(&[("alpha", yaml)]).await;
    let (code, doc) = project.json_run(&[]);
    assert_exit_code(code, 1, &doc, "row_count fails");
    assert_eq!(summary(&doc), [1, 0, 1, 0]);
    assert_eq!(result(&doc, None, "row_count")["value"], 3);
    assert_eq!(project.run(&["run"]).code, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_code_2_when_a_check_errors() {
    let yaml = "
dataset: alpha
checks:
  - row_count: { max: 1 }
  - sql_metric: { name: broken, query: 'select nonsense from no_such_table', max: 0 }
  - sql_metric: { name: two_columns, query: 'select 1, 2', max: 5 }
  - sql_metric: { name: works, query: 'select count(*) from alpha where amount > 15', equals: 2 }
";
    let project = SqliteProject::new(&[("alpha", yaml)]).await;
    let (code, doc) = project.json_run(&[]);
    assert_exit_code(code, 2, &doc, "an error outranks a failure");
    assert_eq!(summary(&doc), [1, 0, 1, 2], "{}", result_lines(&doc));
    for name in ["broken", "two_columns"] {
        let r = result(&doc, None, name);
        assert_eq!(r["outcome"], "error", "{r}");
        assert!(r["value"].is_null(), "an error has no value: {r}");
        assert!(!text(&r["message"]).is_empty(), "{r}");
    }
    let works = result(&doc, None, "works");
    assert_eq!(
        (works["outcome"].as_str(), works["value"].as_f64()),
        (Some("pass"), Some(2.0))
    );
    assert_eq!(project.run(&["run"]).code, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_check_filter_errors_alone() {
    // The shared aggregate query fails on the bad filter; each metric is then retried on
    // its own, so only the broken check is an error.
    let yaml = "
dataset: alpha
checks:
  - row_count: { min: 1 }
  - row_count: { name: broken_filter, filter: 'no_such_column = 1', min: 1 }
  - missing_count: { column: name, max: 1 }
";
    let project = SqliteProject::new(&[("alpha", yaml)]).await;
    let (code, doc) = project.json_run(&[]);
    assert_exit_code(code, 2, &doc, "the broken filter is an error");
    assert_eq!(summary(&doc), [2, 0, 0, 1], "{}", result_lines(&doc));
    let broken = result(&doc, None, "broken_filter");
    assert!(
        text(&broken["message"]).contains("no_such_column"),
        "{broken}"
    );
    assert_eq!(result(&doc, None, "row_count")["value"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn user_sql_cannot_write_to_the_warehouse() {
    let seed = "CREATE TABLE victim (id int); INSERT INTO victim VALUES (1), (2);";
    let yaml = "
dataset: victim
checks:
  - sql_metric:
      name: sneaky_delete
      query: 'with gone as (delete from victim returning 1) select count(*) from gone'
      max: 0
  - row_count: { name: sneaky_filter, filter: '(select count(*) from (delete from victim returning 1) d) = 0', min: 0 }
";
    let (pg, code, doc) = run_on_seeded(Backend::Postgres, seed, &[("victim", yaml)]).await;
    // The user-SQL guard refuses both writes before anything runs (engines.rs has the
    // whole corpus); the read-only transaction stays as the layer below it.
    assert_exit_code(code, 2, &doc, "both writes are refused");
    assert_eq!(doc["valid"], false, "{doc}");
    let messages: Vec<&str> = doc["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| text(&d["message"]))
        .collect();
    assert_eq!(messages.len(), 2, "{doc}");
    assert!(
        messages.iter().all(|m| m.contains("DELETE is refused")),
        "{doc}"
    );
    assert_eq!(pg.scalar_i64("SELECT count(*) FROM victim").await, 2);
}

#[test]
fn exit_code_2_on_invalid_configuration() {
    // An unknown check kind.
    let project = Project::builder()
        .warehouse("main", "sqlite://warehouse.db")
        .dataset(
            "alpha",
            "dataset: alpha\nchecks:\n  - row_cuont: { min: 1 }\n",
        )
        .build();
    for args in [&["run"][..], &["run", "--format", "json"], &["validate"]] {
        let out = project.run(args);
        assert_eq!(out.code, 2, "tidemark {args:?}:\n{}", out.both());
        assert!(!out.stderr.contains("panicked"), "{}", out.both());
        assert!(
            out.stderr.contains("row_cuont"),
            "the diagnostic names the problem:\n{}",
            out.both()
        );
    }
    // Scripts asking for JSON get the problems as JSON on stdout, with their positions.
    for args in [
        &["run", "--format", "json"][..],
        &["validate", "--format", "json"],
    ] {
        let doc = project.run(args).json();
        assert_eq!(doc["valid"], false, "{doc}");
        let first = &doc["diagnostics"][0];
        assert!(text(&first["file"]).ends_with("alpha.yml"), "{doc}");
        assert_eq!(
            (first["line"].as_u64(), first["column"].as_u64()),
            (Some(3), Some(5)),
            "{doc}"
        );
        assert!(text(&first["message"]).contains("row_cuont"), "{doc}");
    }
    // An unset variable without a default names the variable.
    let project = Project::builder()
        .config("version: 1\nwarehouses:\n  main:\n    url: ${TIDEMARK_TEST_SURELY_UNSET}\nchecks: [checks/]\n")
        .dataset("alpha", ALL_PASS)
        .build();
    for args in [&["run"][..], &["validate"]] {
        let out = project.run(args);
        assert_eq!(out.code, 2, "tidemark {args:?}:\n{}", out.both());
        assert!(
            out.stderr.contains("TIDEMARK_TEST_SURELY_UNSET"),
            "{}",
            out.both()
        );
    }
    // No project at all.
    let empty = tempfile::tempdir().expect("temp dir");
    run_tidemark(empty.path(), &["run"]).assert_code(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_has_exactly_the_documented_fields() {
    let yaml = "
dataset: alpha
checks:
  - row_count: { min: 1 }
  - missing_count: { column: name, max: 0 }
  - duplicate_count: { columns: [id, name], max: 0 }
";
    let project = SqliteProject::new(&[("alpha", yaml)]).await;
    let (code, doc) = project.json_run(&[]);
    assert_exit_code(code, 1, &doc, "missing_count fails");

    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object().expect("an object").keys().cloned().collect()
    };
    assert_eq!(
        keys(&doc),
        names(&[
            "run_id",
            "started_at",
            "finished_at",
            "results",
            "summary",
            "cost"
        ])
    );
    // SQLite reports no scans: the cost is the time, in all and for the one dataset.
    assert_eq!(keys(&doc["cost"]), names(&["seconds", "datasets"]));
    let datasets = doc["cost"]["datasets"].as_array().expect("datasets");
    assert_eq!(datasets.len(), 1, "{doc}");
    assert_eq!(
        keys(&datasets[0]),
        names(&["dataset", "warehouse", "seconds"])
    );
    assert_eq!(datasets[0]["dataset"], "alpha");
    assert!(
        datasets[0]["seconds"].as_f64().is_some_and(|s| s > 0.0),
        "{doc}"
    );
    assert_eq!(
        keys(&doc["summary"]),
        names(&["pass", "warn", "fail", "error"])
    );
    let fields = [
        "dataset",
        "warehouse",
        "check",
        "kind",
        "column",
        "outcome",
        "value",
        "expected",
        "message",
    ];
    for r in doc["results"].as_array().expect("results") {
        let mut want = names(&fields);
        if r["check"] == "duplicate_count(id, name)" {
            want.insert("columns".into());
        }
        assert_eq!(keys(r), want, "{r}");
    }
    assert!(doc["run_id"].as_str().is_some_and(|s| !s.is_empty()));
    let time = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(text(&doc[k]))
            .unwrap_or_else(|e| panic!("{k} is not RFC 3339 ({e}): {}", doc[k]))
    };
    assert!(time("started_at") <= time("finished_at"));

    let rc = result(&doc, None, "row_count");
    assert_eq!(rc["dataset"], "alpha");
    assert_eq!(rc["warehouse"], "main");
    assert_eq!(rc["kind"], "row_count");
    assert!(rc["column"].is_null());
    assert_eq!(rc["value"].to_string(), "3", "integers print without .0");
    assert_eq!(rc["expected"], serde_json::json!({"min": 1}));
    let missing = result(&doc, None, "missing_count(name)");
    assert_eq!(missing["column"], "name");
    assert_eq!(
        (missing["outcome"].as_str(), missing["value"].as_i64()),
        (Some("fail"), Some(1))
    );
    let dup = result(&doc, None, "duplicate_count(id, name)");
    assert_eq!(dup["columns"], serde_json::json!(["id", "name"]));
    assert_eq!(dup["value"], 0);
}

// ---------------------------------------------------------------------------------------
// A tiny XML well-formedness checker (enough for JUnit: elements, attributes, text, entity
// references, comments, declarations and CDATA), so no XML crate is needed.

#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
}

/// Parses `xml`, returning every element (in document order) or the first problem.
fn parse_xml(xml: &str) -> Result<Vec<Element>, String> {
    let mut elements = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = xml.trim_start_matches('\u{feff}');
    let check_text = |text: &str| -> Result<(), String> {
        let mut t = text;
        while let Some(i) = t.find('&') {
            let end = t[i..]
                .find(';')
                .ok_or_else(|| format!("unterminated entity in {text:?}"))?;
            let entity = &t[i + 1..i + end];
            let ok = matches!(entity, "lt" | "gt" | "amp" | "quot" | "apos")
                || entity
                    .strip_prefix("#x")
                    .is_some_and(|h| u32::from_str_radix(h, 16).is_ok())
                || entity
                    .strip_prefix('#')
                    .is_some_and(|d| d.parse::<u32>().is_ok());
            if !ok {
                return Err(format!("bad entity &{entity};"));
            }
            t = &t[i + end + 1..];
        }
        if text.contains('<') {
            return Err(format!("raw < in {text:?}"));
        }
        Ok(())
    };
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if !stack.is_empty() {
                return Err(format!("unclosed elements {stack:?}"));
            }
            if !rest.trim().is_empty() {
                return Err(format!("text after the root: {rest:?}"));
            }
            break;
        };
        let text = &rest[..lt];
        if stack.is_empty() && !text.trim().is_empty() {
            return Err(format!("text outside the root: {text:?}"));
        }
        check_text(text)?;
        rest = &rest[lt..];
        let skip = |rest: &str, open: &str, close: &str| -> Result<usize, String> {
            rest.find(close)
                .map(|i| i + close.len())
                .ok_or_else(|| format!("unterminated {open}"))
        };
        if rest.starts_with("<?") {
            rest = &rest[skip(rest, "<?", "?>")?..];
        } else if rest.starts_with("<!--") {
            rest = &rest[skip(rest, "<!--", "-->")?..];
        } else if rest.starts_with("<![CDATA[") {
            if stack.is_empty() {
                return Err("CDATA outside the root".into());
            }
            rest = &rest[skip(rest, "<![CDATA[", "]]>")?..];
        } else if rest.starts_with("<!") {
            rest = &rest[skip(rest, "<!", ">")?..];
        } else if let Some(after) = rest.strip_prefix("</") {
            let gt = after.find('>').ok_or("unterminated end tag")?;
            let name = after[..gt].trim();
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            rest = &after[gt + 1..];
        } else {
            // A start tag: name, attributes, optional '/'.
            let mut t = &rest[1..];
            let name_len = t
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .ok_or("unterminated tag")?;
            let name = t[..name_len].to_owned();
            if name.is_empty() {
                return Err("empty element name".into());
            }
            t = &t[name_len..];
            let mut attrs = Vec::new();
            let self_closing;
            loop {
                t = t.trim_start();
                if let Some(r) = t.strip_prefix("/>") {
                    self_closing = true;
                    t = r;
                    break;
                }
                if let Some(r) = t.strip_prefix('>') {
                    self_closing = false;
                    t = r;
                    break;
                }
                let eq = t
                    .find('=')
                    .ok_or_else(|| format!("attribute without value in <{name}>"))?;
                let attr = t[..eq].trim().to_owned();
                t = t[eq + 1..].trim_start();
                let quote = t
                    .chars()
                    .next()
                    .filter(|c| *c == '"' || *c == '\'')
                    .ok_or("unquoted attribute")?;
                let end = t[1..].find(quote).ok_or("unterminated attribute value")?;
                let value = &t[1..1 + end];
                check_text(value)?;
                if attrs.iter().any(|(a, _)| *a == attr) {
                    return Err(format!("duplicate attribute {attr} in <{name}>"));
                }
                attrs.push((attr, value.to_owned()));
                t = &t[end + 2..];
            }
            if stack.is_empty() {
                roots += 1;
                if roots > 1 {
                    return Err("more than one root element".into());
                }
            }
            if !self_closing {
                stack.push(name.clone());
            }
            elements.push(Element { name, attrs });
            rest = t;
        }
    }
    if !stack.is_empty() {
        return Err(format!("unclosed elements {stack:?}"));
    }
    if roots != 1 {
        return Err("no root element".into());
    }
    Ok(elements)
}

fn attr_num(e: &Element, name: &str) -> Option<u64> {
    e.attrs
        .iter()
        .find(|(a, _)| a == name)
        .and_then(|(_, v)| v.parse().ok())
}

#[test]
fn the_xml_checker_rejects_broken_documents() {
    assert!(parse_xml("<?xml version=\"1.0\"?><a x=\"1\"><b/>t &amp; u</a>").is_ok());
    assert!(parse_xml("<a><b></a></b>").is_err());
    assert!(parse_xml("<a>x & y</a>").is_err());
    assert!(parse_xml("<a x=1/>").is_err());
    assert!(parse_xml("<a/><b/>").is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn junit_is_well_formed_and_counts_failures_and_errors() {
    // pass, warn, two fails, one error; names with characters XML must escape.
    let yaml = r#"
dataset: alpha
checks:
  - row_count: { min: 1 }
  - missing_count: { column: name, warn: { max: 0 }, fail: { max: 5 } }
  - max: { name: "amount <= 20 & \"small\"", column: amount, max: 20 }
  - min: { column: amount, min: 100 }
  - sql_metric: { name: "broken <sql>", query: "select nonsense from nowhere", max: 0 }
"#;
    let project = SqliteProject::new(&[("alpha", yaml)]).await;
    let out = project.run(&["run", "--format", "junit"]);
    out.assert_code(2);
    let elements = parse_xml(&out.stdout)
        .unwrap_or_else(|e| panic!("JUnit output is not well-formed XML: {e}\n{}", out.both()));
    let count = |name: &str| elements.iter().filter(|e| e.name == name).count() as u64;
    assert_eq!(count("testcase"), 5, "{}", out.stdout);
    assert_eq!(count("failure"), 2, "two failed checks:\n{}", out.stdout);
    assert_eq!(count("error"), 1, "one errored check:\n{}", out.stdout);
    let suites: Vec<&Element> = elements.iter().filter(|e| e.name == "testsuite").collect();
    assert!(!suites.is_empty(), "no <testsuite>:\n{}", out.stdout);
    let sum = |attr: &str| {
        suites
            .iter()
            .map(|s| {
                attr_num(s, attr).unwrap_or_else(|| {
                    panic!("<testsuite> without a numeric {attr}:\n{}", out.stdout)
                })
            })
            .sum::<u64>()
    };
    assert_eq!(
        (sum("tests"), sum("failures"), sum("errors")),
        (5, 2, 1),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("amount &lt;= 20 &amp;"),
        "names are escaped:\n{}",
        out.stdout
    );
}

/// `dataset: NAME`, tagged, with one `row_count` check.
fn tagged_dataset(name: &str, tags: &str) -> String {
    format!("dataset: {name}\ntags: [{tags}]\nchecks:\n  - row_count: {{ min: 1 }}\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn dataset_and_tag_select_what_runs() {
    let project = SqliteProject::new(&[
        ("alpha", &tagged_dataset("alpha", "x")),
        ("beta", &tagged_dataset("beta", "y")),
        ("gamma", &tagged_dataset("gamma", "x, y")),
    ])
    .await;
    let datasets = |args: &[&str]| -> BTreeSet<String> {
        let (code, doc) = project.json_run(args);
        assert_exit_code(
            code,
            0,
            &doc,
            &format!("{args:?}: every selected check passes"),
        );
        doc["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| text(&r["dataset"]).to_owned())
            .collect()
    };
    assert_eq!(datasets(&[]), names(&["alpha", "beta", "gamma"]));
    assert_eq!(datasets(&["--dataset", "beta"]), names(&["beta"]));
    assert_eq!(
        datasets(&["--dataset", "alpha", "--dataset", "gamma"]),
        names(&["alpha", "gamma"])
    );
    assert_eq!(datasets(&["--tag", "x"]), names(&["alpha", "gamma"]));
    assert_eq!(datasets(&["--tag", "y"]), names(&["beta", "gamma"]));
}

const SECRET: &str = "Sup3r-S3cret-pw";

/// Fails if `out` shows the password anywhere.
#[track_caller]
fn assert_no_secret(out: &Output, what: &str) {
    assert!(
        !out.both().contains(SECRET),
        "{what} printed the password:\n{}",
        out.both()
    );
}

#[test]
fn unreachable_warehouses_are_errors_naming_them() {
    let project = Project::builder()
        .warehouse("pg_down", &format!("postgres://postgres:{SECRET}@127.0.0.1:1/x"))
        .warehouse("mysql_down", &format!("mysql://root:{SECRET}@127.0.0.1:1/x"))
        .dataset("pg", "dataset: orders\nwarehouse: pg_down\nchecks:\n  - row_count: { min: 1 }\n  - missing_count: { column: id, max: 0 }\n")
        .dataset("my", "dataset: orders_my\nwarehouse: mysql_down\nchecks:\n  - row_count: { min: 1 }\n")
        .build();
    // Each run waits for the connections to fail, so run each format once and look at
    // everything printed.
    let json = project.run(&["run", "--format", "json"]);
    let human = project.run(&["run"]);
    for out in [&json, &human] {
        out.assert_code(2);
        assert!(!out.stderr.contains("panicked"), "{}", out.both());
        assert_no_secret(out, "tidemark run");
    }
    let doc = json.json();
    let results = doc["results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "{}", result_lines(&doc));
    for r in results {
        let warehouse = text(&r["warehouse"]);
        assert!(warehouse == "pg_down" || warehouse == "mysql_down", "{r}");
        assert_eq!(r["outcome"], "error", "{r}");
        assert!(r["value"].is_null(), "{r}");
        assert!(
            text(&r["message"]).contains(warehouse),
            "the message names the warehouse: {r}"
        );
    }
    assert_eq!(summary(&doc), [0, 0, 0, 3]);
    for warehouse in ["pg_down", "mysql_down"] {
        assert!(human.stdout.contains(warehouse), "{}", human.both());
    }
}

/// A reachable Postgres (trust auth accepts any password) with a password in the URL: it
/// never shows, whatever is printed, including errors from the warehouse.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_in_the_url_is_never_printed() {
    let db = PgDb::new().await;
    db.exec("CREATE TABLE orders (id integer); INSERT INTO orders VALUES (1), (2);")
        .await;
    let server = pg_server_url();
    let url = with_database(&server, &db.name).replacen(
        "://postgres@",
        &format!("://postgres:{SECRET}@"),
        1,
    );
    assert!(
        url.contains(SECRET),
        "TIDEMARK_TEST_PG_URL should be postgres://postgres@…: {server}"
    );
    let project = Project::with_datasets(
        &url,
        &[(
            "orders",
            "dataset: orders\nchecks:\n  - row_count: { min: 1 }\n  - sql_metric: { name: broken, query: 'select nonsense', max: 0 }\n",
        )],
    );
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 2, &doc, "the broken sql_metric is an error");
    assert_eq!(
        result(&doc, None, "row_count")["outcome"],
        "pass",
        "{}",
        result_lines(&doc)
    );
    let dir = project.path().to_owned();
    let outputs = tokio::task::spawn_blocking(move || {
        [
            vec!["run"],
            vec!["run", "--format", "json"],
            vec!["run", "--format", "junit"],
            vec!["validate"],
            vec!["explain"],
        ]
        .into_iter()
        .map(|args| (args.join(" "), run_tidemark(&dir, &args)))
        .collect::<Vec<_>>()
    })
    .await
    .expect("join");
    for (args, out) in outputs {
        assert_no_secret(&out, &format!("`tidemark {args}`"));
    }
    // Also a MySQL URL with a password that the server refuses.
    let my_url = with_database(&mysql_server_url(), "mysql").replacen(
        "://root@",
        &format!("://root:{SECRET}@"),
        1,
    );
    let project = Project::with_datasets(
        &my_url,
        &[("t", "dataset: user\nchecks:\n  - row_count: { min: 1 }\n")],
    );
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_no_secret(&project.run(&["run"]), "tidemark run");
    assert!(!doc.to_string().contains(SECRET), "{doc}");
    assert_exit_code(code, 2, &doc, "access denied is an error");
}

#[tokio::test(flavor = "multi_thread")]
async fn warn_levels_give_warn_and_exit_0() {
    let yaml = "
dataset: alpha
checks:
  - row_count: { warn: { max: 1 }, fail: { max: 10 } }
  - missing_count: { column: name, warn: { max: 0 }, fail: { max: 10 } }
  - sum: { column: amount, warn: { between: [0, 10] }, fail: { between: [0, 100] } }
";
    let project = SqliteProject::new(&[("alpha", yaml)]).await;
    let (code, doc) = project.json_run(&[]);
    assert_exit_code(code, 0, &doc, "warnings are not failures");
    assert_eq!(summary(&doc), [0, 3, 0, 0], "{}", result_lines(&doc));
    for r in doc["results"].as_array().expect("results") {
        assert_eq!(r["outcome"], "warn", "{r}");
        assert!(
            r["expected"]["warn"].is_object() && r["expected"]["fail"].is_object(),
            "{r}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_accepts_a_valid_project() {
    let project = SqliteProject::new(&[("alpha", ALL_PASS)]).await;
    project.run(&["validate"]).assert_code(0);
    run_from_elsewhere(&project, "validate").assert_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_prints_the_sql_for_each_dataset() {
    let project = SqliteProject::new(&[
        (
            "alpha",
            "dataset: alpha\nchecks:\n  - row_count: { min: 1 }\n  - avg: { column: amount, max: 100 }\n",
        ),
        (
            "beta",
            "dataset: beta\nchecks:\n  - duplicate_count: { columns: [id], max: 0 }\n",
        ),
    ])
    .await;
    let out = project.run(&["explain"]);
    out.assert_code(0);
    let lower = out.stdout.to_lowercase();
    assert!(lower.contains("select"), "{}", out.both());
    for table in ["alpha", "beta"] {
        assert!(
            out.stdout.contains(table),
            "no SQL over {table}:\n{}",
            out.both()
        );
    }
}

#[test]
fn schema_prints_a_json_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run_tidemark(dir.path(), &["schema"]);
    out.assert_code(0);
    let schema = out.json();
    assert!(
        schema.get("$schema").is_some(),
        "no \"$schema\" key:\n{}",
        out.stdout
    );
}

#[test]
fn the_demo_finds_exactly_its_placed_problems() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo_dir = dir.path().join("demo");
    let demo_arg = demo_dir.to_str().expect("UTF-8 temp path");
    let out = run_tidemark(dir.path(), &["demo", "--once", "--dir", demo_arg]);
    // The demo exists to show failures: finding them is success.
    out.assert_code(0);
    assert!(
        out.stdout.contains("34 pass, 1 warn, 7 fail, 0 error"),
        "{}",
        out.both()
    );

    // The generated project is an ordinary one: run it again as a script would.
    let (code, doc) = crate::support::json_run(&demo_dir, &[]);
    assert_exit_code(code, 1, &doc, "the demo data has failing checks");
    let failing: BTreeSet<(String, String)> = doc["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["outcome"] != "pass")
        .map(|r| {
            let what = format!("{} {}", text(&r["outcome"]), text(&r["check"]));
            (text(&r["dataset"]).to_string(), what)
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("customers", "warn missing_percent(email)"),
        ("customers", "fail invalid_count(email)"),
        ("events", "fail freshness(occurred_at)"),
        ("orders", "fail missing_count(customer_id)"),
        ("orders", "fail duplicate_count(order_id)"),
        ("orders", "fail min(amount)"),
        ("payments", "fail schema"),
        ("sessions", "fail freshness(ended_at)"),
    ]
    .into_iter()
    .map(|(d, c)| (d.to_string(), c.to_string()))
    .collect();
    assert_eq!(failing, expected, "{}", result_lines(&doc));
}

/// On a terminal, a run that takes more than a moment shows a progress line on stderr and
/// clears it; piped output (every other test) has none. `script` gives the run a terminal.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_run_shows_progress_on_a_terminal() {
    let db = TestDb::new(Backend::Postgres).await;
    db.exec("CREATE TABLE t (id int); INSERT INTO t VALUES (1);")
        .await;
    let yaml = "
dataset: t
checks:
  - sql_metric: { name: slow, query: 'select count(*) from pg_sleep(1.5)', max: 5 }
";
    let project = Project::with_datasets(db.url(), &[("t", yaml)]);
    let command = format!(
        "{} run {}",
        env!("CARGO_BIN_EXE_tidemark"),
        project.path().display()
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("script")
            .args(["-qefc", &command, "/dev/null"])
            .output()
            .expect("run script(1)")
    })
    .await
    .expect("join script");
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{terminal}");
    assert!(terminal.contains("0/1 datasets checked"), "{terminal}");
    assert!(terminal.contains("1 check: 1 pass"), "{terminal}");
}
