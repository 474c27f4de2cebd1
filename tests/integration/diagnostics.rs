//! `tidemark validate` on the malformed projects in `tests/corpus`: each case directory holds
//! the files and an `expected.txt` with exactly what must reach stderr (every diagnostic as
//! `path:line:col: message`, sorted, then the `N problems found` line), and the exit code
//! must be 2. The binary runs from the corpus directory with the case name as its argument,
//! so paths print as `<case>/checks/orders.yml`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus")
}

fn cases() -> Vec<String> {
    let mut cases: Vec<String> = fs::read_dir(corpus())
        .expect("tests/corpus is readable")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    cases
}

/// Runs one case; returns a description of the mismatch, if any.
fn check_case(case: &str) -> Option<String> {
    let expected_file = corpus().join(case).join("expected.txt");
    let expected = fs::read_to_string(&expected_file)
        .unwrap_or_else(|error| panic!("{}: {error}", expected_file.display()));
    let output = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["validate", case])
        .current_dir(corpus())
        // The corpus relies on these being unset; nothing else in the environment matters.
        .env_remove("TIDEMARK_CORPUS_UNSET_VAR")
        .env_remove("TIDEMARK_CORPUS_UNSET_REGION")
        .env_remove("TIDEMARK_CORPUS_UNSET_STORE")
        .output()
        .expect("the tidemark binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let actual: Vec<&str> = stderr.lines().collect();
    let expected: Vec<&str> = expected.lines().collect();
    let code = output.status.code();
    if code == Some(2) && actual == expected {
        return None;
    }
    Some(format!(
        "case {case}: exit code {code:?} (expected 2)\n--- expected\n{}\n--- actual\n{}\n",
        expected.join("\n"),
        actual.join("\n")
    ))
}

#[test]
fn every_corpus_case_prints_exactly_its_expected_diagnostics() {
    let cases = cases();
    assert!(cases.len() >= 15, "only {} corpus cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|case| check_case(case)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn secrets_in_urls_never_reach_the_output() {
    let output = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["validate", "bad-project"])
        .current_dir(corpus())
        .output()
        .expect("the tidemark binary runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in ["tiger", "s3cret"] {
        assert!(!all.contains(secret), "'{secret}' leaked:\n{all}");
    }
}
