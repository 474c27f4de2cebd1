//! A check's definition as the user wrote it: the text of its entry in its dataset file,
//! found from the position the spec keeps for each check.
//!
//! The running configuration was loaded from the files as they were then; the files may
//! have been edited since (and the configuration not reloaded yet). So the texts of the
//! files are kept as each configuration was loaded ([`LoadedSources`], read again on every
//! reload), and the page shows the file as it is now, saying so when the check's entry
//! differs from the one the checks run with.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use serde::Serialize;
use tokio::sync::watch;

use crate::spec::{Check, Project};

/// The file changed at the check's entry: what is shown is the current text.
const CHANGED: &str = "The file has changed since the configuration was loaded: this is the \
                       text now at the check's position. The checks run the loaded definition \
                       until the configuration is reloaded.";
/// The file cannot be read (or no longer reaches the check's position) now.
const UNREADABLE_NOW: &str = "The file cannot be read at the check's position now: this is the \
                              entry as the configuration was loaded.";

/// The texts of the dataset files of the configuration in force, as it was loaded.
#[derive(Clone, Default)]
pub struct LoadedSources(Arc<RwLock<Option<Snapshot>>>);

struct Snapshot {
    /// The configuration these texts were read for (compared by pointer).
    project: Arc<Project>,
    texts: HashMap<PathBuf, Arc<str>>,
}

impl Snapshot {
    /// Reads every dataset file of `project`; a file that cannot be read is left out.
    fn read(project: Arc<Project>) -> Snapshot {
        let mut texts = HashMap::new();
        for dataset in &project.datasets {
            let file = dataset.location.file.as_path();
            if !texts.contains_key(file)
                && let Ok(text) = std::fs::read_to_string(file)
            {
                texts.insert(file.to_path_buf(), Arc::from(text));
            }
        }
        Snapshot { project, texts }
    }
}

impl LoadedSources {
    /// Reads the files of the configuration in force now, and again each time `project`
    /// is replaced (a reload), right after the new configuration was loaded from them (by
    /// a task: call it on a Tokio runtime).
    pub fn watch(mut project: watch::Receiver<Arc<Project>>) -> LoadedSources {
        let sources = LoadedSources::default();
        sources.keep(Snapshot::read(Arc::clone(&project.borrow_and_update())));
        let kept = sources.clone();
        tokio::spawn(async move {
            while project.changed().await.is_ok() {
                let current = Arc::clone(&project.borrow_and_update());
                match tokio::task::spawn_blocking(move || Snapshot::read(current)).await {
                    Ok(snapshot) => kept.keep(snapshot),
                    Err(e) => tracing::error!("dashboard: reading the dataset files failed: {e}"),
                }
            }
        });
        sources
    }

    fn keep(&self, snapshot: Snapshot) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(snapshot);
    }

    /// The text of `file` as `project` was loaded from it, when it was read for `project`.
    fn loaded(&self, project: &Arc<Project>, file: &Path) -> Option<Arc<str>> {
        let snapshot = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let snapshot = snapshot
            .as_ref()
            .filter(|s| Arc::ptr_eq(&s.project, project))?;
        snapshot.texts.get(file).cloned()
    }

    /// `check`'s definition in `project`, read from its file now.
    pub async fn definition(&self, project: &Arc<Project>, check: &Check) -> Definition {
        let location = &check.location;
        let file = location.file.as_path();
        let at = |text: &str| entry(text, location.line, location.column);
        let loaded = self.loaded(project, file).and_then(|text| at(&text));
        let current = tokio::fs::read_to_string(file)
            .await
            .ok()
            .and_then(|text| at(&text));
        let (text, note) = match (current, loaded) {
            (Some(current), Some(loaded)) if current != loaded => (Some(current), Some(CHANGED)),
            (Some(current), _) => (Some(current), None),
            (None, Some(loaded)) => (Some(loaded), Some(UNREADABLE_NOW)),
            (None, None) => (None, None),
        };
        Definition {
            file: relative(file, &project.root),
            line: location.line,
            text,
            note,
        }
    }
}

/// Where a check is defined and how it reads.
#[derive(Debug, Serialize)]
pub struct Definition {
    /// Its file, relative to the project's root.
    file: String,
    line: usize,
    /// The entry's lines as written; `None` when the file cannot be read.
    text: Option<String>,
    /// Why the text may not be what the checks run with.
    note: Option<&'static str>,
}

fn relative(file: &Path, root: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string()
}

/// The lines of the YAML entry whose key starts at `line`:`column` (1-based; columns count
/// characters, as the parser does): from the `-` opening its list item (or from the key,
/// when it opens no list item) through every following line indented deeper, trailing
/// blank lines left out. `None` when no key starts there.
pub fn entry(source: &str, line: usize, column: usize) -> Option<String> {
    let lines: Vec<&str> = source.lines().collect();
    let index = line.checked_sub(1)?;
    let first = *lines.get(index)?;
    let key = column.checked_sub(1)?;
    let mut chars = first.chars();
    let before: String = chars.by_ref().take(key).collect();
    if before.chars().count() < key || chars.next().is_none_or(char::is_whitespace) {
        return None;
    }
    let indent = item_indent(&before).unwrap_or(key);
    let body = lines[index + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indentation(l) > indent)
        .count();
    let mut end = index + 1 + body;
    while end > index + 1 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    Some(lines[index..end].join("\n"))
}

/// The column (0-based) of the `-` that opens a list item when `before` is what precedes
/// the item's first key on its line: `"  - "` gives 2.
fn item_indent(before: &str) -> Option<usize> {
    let dash = before.trim_end().strip_suffix('-')?;
    let spaced = before.len() > dash.len() + 1;
    (spaced && dash.trim().is_empty()).then(|| dash.chars().count())
}

/// Leading spaces (YAML indents with spaces only).
fn indentation(line: &str) -> usize {
    line.chars().take_while(|c| *c == ' ').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "dataset: orders\nchecks:\n  - row_count: { min: 1 }\n  \
                        - missing_count:\n      column: id\n\n      # none missing\n      \
                        max: 0\n\n  -   avg: { column: amount, between: [1, 9] }\n\
                        sla:\n  freshness:\n    column: at\n    within: 2h\nowner: team\n";

    #[test]
    fn one_line_entries_are_their_line() {
        assert_eq!(
            entry(FILE, 3, 5).as_deref(),
            Some("  - row_count: { min: 1 }")
        );
        assert_eq!(
            entry(FILE, 10, 7).as_deref(),
            Some("  -   avg: { column: amount, between: [1, 9] }")
        );
    }

    #[test]
    fn block_entries_run_to_the_next_item_without_trailing_blanks() {
        assert_eq!(
            entry(FILE, 4, 5).as_deref(),
            Some("  - missing_count:\n      column: id\n\n      # none missing\n      max: 0")
        );
    }

    #[test]
    fn keys_outside_lists_start_the_entry() {
        // The SLA's freshness check points at its `freshness:` key.
        assert_eq!(
            entry(FILE, 12, 3).as_deref(),
            Some("  freshness:\n    column: at\n    within: 2h")
        );
    }

    #[test]
    fn positions_without_a_key_are_none() {
        assert_eq!(entry(FILE, 0, 1), None);
        assert_eq!(entry(FILE, 99, 1), None);
        assert_eq!(entry(FILE, 3, 0), None);
        // Blank, past the end of the line, and a space before the key.
        assert_eq!(entry(FILE, 6, 1), None);
        assert_eq!(entry(FILE, 3, 80), None);
        assert_eq!(entry(FILE, 3, 4), None);
    }

    #[test]
    fn columns_count_characters() {
        let source = "checks:\n  - sql_metric: { name: \"é\", query: q }\n    # ü\n";
        assert_eq!(
            entry(source, 2, 5).as_deref(),
            Some("  - sql_metric: { name: \"é\", query: q }\n    # ü")
        );
        assert_eq!(entry("é: - x", 1, 6).as_deref(), Some("é: - x"));
    }

    /// The definition of the one check of a project loaded from `dir`, read after `then`
    /// changed the files.
    async fn definition_after(then: impl FnOnce(&Path)) -> Definition {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let dir = dir.path();
        let project = crate::dashboard::tests::one_dataset_project(dir);
        let (_keep, project) = watch::channel(Arc::new(project));
        let sources = LoadedSources::watch(project.clone());
        then(&dir.join("checks/orders.yml"));
        let project = Arc::clone(&project.borrow());
        sources
            .definition(&project, &project.datasets[0].checks[0])
            .await
    }

    #[tokio::test]
    async fn definitions_say_when_the_file_changed_since_loading() {
        let unchanged = definition_after(|_| ()).await;
        assert_eq!(unchanged.file, "checks/orders.yml");
        assert_eq!(unchanged.line, 3);
        assert_eq!(unchanged.text.as_deref(), Some("  - row_count: { min: 1 }"));
        assert_eq!(unchanged.note, None);

        let edited = definition_after(|file| {
            let text = "dataset: orders\nchecks:\n  - row_count: { min: 5 }\n";
            std::fs::write(file, text).expect("edit the file");
        })
        .await;
        assert_eq!(edited.text.as_deref(), Some("  - row_count: { min: 5 }"));
        assert_eq!(edited.note, Some(CHANGED));

        let removed = definition_after(|file| {
            std::fs::remove_file(file).expect("remove the file");
        })
        .await;
        assert_eq!(removed.text.as_deref(), Some("  - row_count: { min: 1 }"));
        assert_eq!(removed.note, Some(UNREADABLE_NOW));
    }

    #[test]
    fn paths_are_shown_from_the_root() {
        let root = Path::new("/p");
        assert_eq!(relative(Path::new("/p/checks/a.yml"), root), "checks/a.yml");
        assert_eq!(relative(Path::new("/q/a.yml"), root), "/q/a.yml");
    }
}
