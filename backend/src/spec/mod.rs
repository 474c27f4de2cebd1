//! The check language: loading `tidemark.yml` and dataset files, `${VAR}` substitution,
//! validation that reports every problem at once as `path:line:col: message`, and the JSON
//! Schema editors use. Pure: takes files and an environment, returns a [`Project`] or
//! diagnostics.

mod check;
mod dataset;
mod discover;
mod drift;
mod duration;
mod env;
#[cfg(test)]
pub(crate) mod fixtures;
mod model;
mod project;
mod reader;
mod redact;
mod schema;
mod suggest;
mod table;
mod thresholds;
pub mod user_sql;
mod yaml;

pub use model::*;
pub use redact::Redactor;
pub use schema::dataset_json_schema;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dataset::{Declared, Identity};
use env::Env;
use reader::Cx;

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
///
/// Every problem in every file is reported, sorted by file, line and column.
pub fn load_with_env(
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Project, Vec<Diagnostic>> {
    let Some(file) = discover::project_file(dir) else {
        return Err(vec![Diagnostic {
            location: None,
            message: format!(
                "no {} found in {} or any parent directory",
                discover::PROJECT_FILE,
                dir.display()
            ),
        }]);
    };
    let mut diagnostics = Vec::new();
    let project = load_project(&file, env, &mut diagnostics);
    diagnostics.sort();
    diagnostics.dedup();
    match project {
        Some(project) if diagnostics.is_empty() => Ok(project),
        _ => Err(diagnostics),
    }
}

fn load_project(file: &Path, env: Env<'_>, diagnostics: &mut Vec<Diagnostic>) -> Option<Project> {
    let path = Arc::new(file.to_path_buf());
    let root = read_yaml(&path, "start it with 'version: 1'", diagnostics)?;
    let mut cx = Cx::new(Arc::clone(&path), env, diagnostics);
    let draft = project::load(&mut cx, &root, file);
    let project_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let files = discover::dataset_files(&mut cx, &project_dir, &draft.check_paths);
    let declared = Declared {
        warehouses: draft.warehouse_names.iter().map(String::as_str).collect(),
        grammars: &draft.grammars,
        owners: draft.owner_names.iter().map(String::as_str).collect(),
        project_dir: &project_dir,
    };
    let datasets = load_datasets(&files, env, &declared, diagnostics);
    let mut project = draft.project?;
    project.datasets = datasets?;
    Some(project)
}

/// Loads each dataset file and reports datasets defined twice for the same warehouse.
fn load_datasets(
    files: &[PathBuf],
    env: Env<'_>,
    declared: &Declared<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<Dataset>> {
    let mut identities: Vec<Identity> = Vec::new();
    let mut datasets = Vec::new();
    for file in files {
        let path = Arc::new(file.clone());
        let start = "a dataset file starts with 'dataset: schema.table'";
        let Some(root) = read_yaml(&path, start, diagnostics) else {
            datasets.push(None);
            continue;
        };
        let mut cx = Cx::new(path, env, diagnostics);
        let loaded = dataset::load(&mut cx, &root, declared);
        datasets.push(loaded.dataset);
        if let Some(identity) = loaded.identity {
            match duplicate(&identities, &identity) {
                Some(diagnostic) => diagnostics.push(diagnostic),
                None => identities.push(identity),
            }
        }
    }
    datasets.into_iter().collect()
}

/// The diagnostic for a dataset defined twice, at the second one: the same table of the
/// same warehouse, or the same name on another warehouse (names key the store's history and
/// the API, so they are unique in a project).
fn duplicate(identities: &[Identity], identity: &Identity) -> Option<Diagnostic> {
    let same_table =
        |first: &&Identity| first.warehouse == identity.warehouse && first.table == identity.table;
    let message = if let Some(first) = identities.iter().find(same_table) {
        format!(
            "dataset {}: defined twice for warehouse {}; first at {}",
            identity.name, identity.warehouse, first.location
        )
    } else {
        let first = identities
            .iter()
            .find(|first| first.name == identity.name)?;
        format!(
            "dataset {}: the name is already used for warehouse {} at {}; dataset names must be unique in a project",
            identity.name, first.warehouse, first.location
        )
    };
    Some(Diagnostic {
        location: Some(identity.location.clone()),
        message,
    })
}

/// Reads and parses one file, reporting read and YAML problems; `None` when there is no tree.
/// `start` tells how an empty file should begin.
fn read_yaml(
    path: &Arc<PathBuf>,
    start: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<yaml::Node> {
    let at = |line, column| Location {
        file: Arc::clone(path),
        line,
        column,
    };
    let source = match std::fs::read_to_string(path.as_path()) {
        Ok(source) => source,
        Err(error) => {
            diagnostics.push(Diagnostic {
                location: Some(at(1, 1)),
                message: format!("cannot read the file: {error}"),
            });
            return None;
        }
    };
    let document = yaml::parse(&source);
    if document.root.is_none() && document.problems.is_empty() {
        diagnostics.push(Diagnostic {
            location: Some(at(1, 1)),
            message: format!("the file is empty: {start}"),
        });
    }
    for problem in document.problems {
        diagnostics.push(Diagnostic {
            location: Some(at(problem.pos.line, problem.pos.column)),
            message: problem.message,
        });
    }
    document.root
}

#[cfg(test)]
mod tests;
