//! The store's layering, checked on the source (ARCHITECTURE.md, "Store"): each engine's
//! driver crate is named only inside that engine's directory, nothing outside the store names
//! an engine type, and the store's top-level modules depend on each other one way only
//! (requests and value types ← role traits ← engines ← actor), with no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the store crate sits in the workspace")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, skipping build output and fuzz corpora.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | "node_modules" | ".git" | "corpus") {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn source_files() -> Vec<(PathBuf, String)> {
    let root = workspace();
    let mut files = Vec::new();
    for member in [
        "src", "config", "shared", "store", "smtp", "imap", "pop3", "admin", "tests",
    ] {
        rust_files(&root.join(member), &mut files);
    }
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read a source file");
            (
                p.strip_prefix(&root).expect("in workspace").to_path_buf(),
                text,
            )
        })
        .collect()
}

#[test]
fn engine_drivers_are_named_only_inside_their_engine() {
    let rules = [
        ("rusqlite", "store/src/sqlite"),
        ("tokio_postgres", "store/src/postgres"),
        ("deadpool_postgres", "store/src/postgres"),
        ("deadpool_sqlite", "store/src/sqlite"),
    ];
    let mut offenders = Vec::new();
    for (path, text) in source_files() {
        // This file names them in its rules; the engine suite makes test databases.
        if path.ends_with("store/tests/layers.rs") || path.starts_with("store/tests/engines") {
            continue;
        }
        for (driver, home) in rules {
            if text.contains(driver) && !path.starts_with(home) {
                offenders.push(format!("{} names {driver}", path.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn nothing_outside_the_store_names_an_engine_type() {
    let mut offenders = Vec::new();
    for (path, text) in source_files() {
        if path.starts_with("store/") {
            continue;
        }
        for name in [
            "SqliteBackend",
            "PgEngine",
            "mailroom_store::sqlite",
            "mailroom_store::postgres",
        ] {
            if text.contains(name) {
                offenders.push(format!("{} names {name}", path.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// The top-level module of the store that `path` (under store/src) belongs to.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix("store/src").ok()?;
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib").then_some(name)
}

#[test]
fn store_modules_depend_on_each_other_one_way() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in source_files() {
        let Some(module) = module_of(&path) else {
            continue;
        };
        let deps = edges.entry(module.clone()).or_default();
        // Code only: doc links may point anywhere.
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let text = code;
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `use crate::{a, b}` names several.
            if name.is_empty() && rest.starts_with('{') {
                let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
                for part in group.split(',') {
                    let part: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !part.is_empty() && part != module {
                        deps.insert(part);
                    }
                }
            } else if !name.is_empty() && name != module {
                deps.insert(name);
            }
        }
    }
    // Only edges between modules (not to items re-exported at the crate root).
    let modules: BTreeSet<String> = edges.keys().cloned().collect();
    for deps in edges.values_mut() {
        deps.retain(|d| modules.contains(d));
    }
    // Depth-first search for a cycle.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for module in &modules {
        if let Some(cycle) = visit(module, &edges, &mut Vec::new(), &mut done) {
            panic!(
                "store modules import each other: {} (all edges: {edges:#?})",
                cycle.join(" -> ")
            );
        }
    }
    // The engines are below the actor and open(): neither engine names the other or them.
    for engine in ["sqlite", "postgres"] {
        let deps = edges.get(engine).cloned().unwrap_or_default();
        for above in ["actor", "open", "admin", "sqlite", "postgres"] {
            assert!(
                above == engine || !deps.contains(above),
                "the {engine} engine names {above}"
            );
        }
    }
}
