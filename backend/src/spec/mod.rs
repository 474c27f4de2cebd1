//! The check language: loading `tidemark.yml` and dataset files, `${VAR}` substitution,
//! validation that reports every problem at once as `path:line:col: message`, and the JSON
//! Schema editors use. Pure: takes files and an environment, returns a [`Project`] or
//! diagnostics.

mod model;

pub use model::*;

use std::fmt;
use std::path::Path;

/// One problem found in the user's files.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// `None` only for problems that have no place in a file (no `tidemark.yml` found).
    pub location: Option<Location>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Loads the project found in `dir` or its parents, reading variables from the process
/// environment.
pub fn load(dir: &Path) -> Result<Project, Vec<Diagnostic>> {
    load_with_env(dir, &|name| std::env::var(name).ok())
}

/// Like [`load`], with the environment given (tests, the demo).
pub fn load_with_env(
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Project, Vec<Diagnostic>> {
    let _ = (dir, env);
    Err(vec![Diagnostic {
        location: None,
        message: "spec loading is not built yet".into(),
    }])
}

/// JSON Schema (draft 2020-12) of a dataset file, for yaml-language-server.
pub fn dataset_json_schema() -> serde_json::Value {
    serde_json::json!({})
}
