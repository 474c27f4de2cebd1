//! Finding files: `tidemark.yml` in the given directory or a parent, and the dataset files
//! its `checks:` list names. Paths are joined, never canonicalised, so diagnostics show them
//! the way the user wrote them (`my-project/checks/orders.yml`).

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::project::CheckPath;
use super::reader::Cx;

pub(crate) const PROJECT_FILE: &str = "tidemark.yml";
/// How far up to look for `tidemark.yml`, and how deep to walk check folders (symlink loops).
const MAX_LEVELS: usize = 64;

/// `tidemark.yml` in `dir` or its nearest parent that has one.
pub(crate) fn project_file(dir: &Path) -> Option<PathBuf> {
    let mut current = dir.to_path_buf();
    for _ in 0..MAX_LEVELS {
        let candidate = current.join(PROJECT_FILE);
        if candidate.is_file() {
            return Some(candidate);
        }
        current = parent(&current)?;
    }
    None
}

/// The parent directory, spelt lexically while that is exact (`a/b` → `a`, `a` → ``), and
/// with `..` once the path is relative and used up or ends in `.` or `..`.
fn parent(path: &Path) -> Option<PathBuf> {
    match path.components().next_back() {
        Some(Component::Normal(_)) => path.parent().map(Path::to_path_buf),
        Some(Component::RootDir | Component::Prefix(_)) => None,
        Some(Component::CurDir | Component::ParentDir) | None => {
            let up = path.join("..");
            let at_top = match (fs::canonicalize(or_dot(path)), fs::canonicalize(&up)) {
                (Ok(here), Ok(above)) => here == above,
                _ => true,
            };
            (!at_top).then_some(up)
        }
    }
}

/// The empty path means the current directory, which the file system calls `.`.
fn or_dot(path: &Path) -> &Path {
    if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    }
}

/// Every dataset file named by `checks:`, in order, each once. A folder contributes its
/// `*.yml`/`*.yaml` files recursively in sorted order, skipping hidden entries.
pub(crate) fn dataset_files(cx: &mut Cx<'_>, root: &Path, paths: &[CheckPath]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in paths {
        let path = root.join(&entry.path);
        if path.is_dir() {
            walk(cx, entry, &path, 0, &mut files);
        } else if path.is_file() {
            files.push(path);
        } else {
            missing(cx, entry);
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|file| seen.insert(file.clone()));
    files
}

fn missing(cx: &mut Cx<'_>, entry: &CheckPath) {
    match entry.pos {
        Some(pos) => cx.error(
            pos,
            format!(
                "'{}' does not exist (paths in 'checks' are relative to the folder of \
                 tidemark.yml)",
                entry.path
            ),
        ),
        // The default folder: point at the top of tidemark.yml.
        None => cx.error(
            super::yaml::Pos { line: 1, column: 1 },
            format!(
                "no '{}' folder next to tidemark.yml: create it for dataset files, or list \
                 them under 'checks'",
                entry.path
            ),
        ),
    }
}

fn walk(cx: &mut Cx<'_>, entry: &CheckPath, dir: &Path, depth: usize, files: &mut Vec<PathBuf>) {
    if depth >= MAX_LEVELS {
        return;
    }
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(error) => {
            let pos = entry.pos.unwrap_or(super::yaml::Pos { line: 1, column: 1 });
            cx.error(
                pos,
                format!("cannot read folder {}: {error}", dir.display()),
            );
            return;
        }
    };
    let mut names: Vec<_> = listing
        .filter_map(Result::ok)
        .map(|item| item.file_name())
        .filter(|name| !name.to_string_lossy().starts_with('.'))
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        if path.is_dir() {
            walk(cx, entry, &path, depth + 1, files);
        } else if is_yaml(&path) {
            files.push(path);
        }
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension == "yml" || extension == "yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_spelt_the_way_the_user_wrote_the_path() {
        assert_eq!(parent(Path::new("a/b")), Some(PathBuf::from("a")));
        assert_eq!(parent(Path::new("a")), Some(PathBuf::from("")));
        assert_eq!(parent(Path::new("/a")), Some(PathBuf::from("/")));
        assert_eq!(parent(Path::new("/")), None);
    }

    #[test]
    fn relative_paths_climb_with_dot_dot_until_the_root() {
        // The test runs somewhere below the file system root, so `..` exists.
        assert_eq!(parent(Path::new("")), Some(PathBuf::from("..")));
        assert_eq!(parent(Path::new(".")), Some(PathBuf::from("./..")));
        let mut path = PathBuf::new();
        let mut steps = 0;
        while let Some(next) = parent(&path) {
            path = next;
            steps += 1;
            assert!(steps < MAX_LEVELS, "climbing never stops");
        }
    }
}
