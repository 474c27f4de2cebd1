//! Holds the code to the layer table of `lib.rs`: every `crate::module` a source file names
//! in code (its `use crate::…` lines and paths written inline; comments aside) must be of a
//! lower layer than the file's own module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// `module → layer`, read from the table in `lib.rs`'s documentation.
fn layers() -> BTreeMap<String, u32> {
    let lib = std::fs::read_to_string(Path::new(SOURCES).join("lib.rs")).expect("lib.rs");
    lib.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.strip_prefix("//! |")?.split('|').collect();
            let layer = cells.first()?.trim().parse().ok()?;
            let module = cells.get(1)?.trim().trim_matches('`');
            Some((module.to_owned(), layer))
        })
        .collect()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`store/sql.rs` → `store`).
fn module_of(file: &Path) -> Option<String> {
    let relative = file.strip_prefix(SOURCES).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

/// Every `crate::name` in the code of `source` (line comments and doc comments skipped).
fn named_modules(source: &str) -> Vec<(usize, String)> {
    let mut named = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::{a, b}` lists several modules.
            if name.is_empty() && after.starts_with('{') {
                let list = after[1..].split('}').next().unwrap_or_default();
                for item in list.split(',') {
                    let item = item.trim().split("::").next().unwrap_or_default();
                    if !item.is_empty() {
                        named.push((index + 1, item.to_owned()));
                    }
                }
            } else if !name.is_empty() {
                named.push((index + 1, name));
            }
            rest = after;
        }
    }
    named
}

#[test]
fn layering_points_down() {
    let layers = layers();
    assert!(layers.len() > 10, "the layer table of lib.rs was not found");
    let mut files = Vec::new();
    rust_files(Path::new(SOURCES), &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(file) else {
            continue;
        };
        let Some(&own) = layers.get(&module) else {
            if !["lib", "main", "layering"].contains(&module.as_str()) {
                wrong.push(format!(
                    "{}: module {module} is not in lib.rs's table",
                    file.display()
                ));
            }
            continue;
        };
        let source = std::fs::read_to_string(file).expect("a source file");
        for (line, named) in named_modules(&source) {
            if named == module {
                continue;
            }
            match layers.get(&named) {
                Some(&layer) if layer < own => {}
                Some(&layer) => wrong.push(format!(
                    "{}:{line}: {module} (layer {own}) uses {named} (layer {layer})",
                    file.display()
                )),
                None => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up or sideways:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn imports_are_read_from_code_only() {
    let source = "use crate::{store::Store, web};\n// crate::cli in a comment\nlet x = crate::spec::load(d); // crate::demo\n";
    let named: Vec<String> = named_modules(source).into_iter().map(|(_, m)| m).collect();
    assert_eq!(named, ["store", "web", "spec"]);
}
