//! The dependency rule of ARCHITECTURE.md, held: every `crate::module` a source file names
//! (in `use` lines, paths and doc links alike) must sit on a lower line of the layer list in
//! ARCHITECTURE.md than the file's own top-level module, and every top-level module must be on
//! the list. A new import that runs back up the layers fails `make test` with the file, line and
//! the two modules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "a test fails loudly"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The fenced block of ARCHITECTURE.md that follows this marker holds the layers, top first.
const MARKER: &str = "<!-- layers: top first; a module imports only modules on lower lines -->";

/// Layer of each top-level module: 0 is the top.
fn layers() -> HashMap<String, usize> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    let after = text
        .split(MARKER)
        .nth(1)
        .expect("ARCHITECTURE.md has no layer list");
    let block = after
        .split("```")
        .nth(1)
        .expect("the layer list is a fenced block after the marker");
    let mut layers = HashMap::new();
    for (level, line) in block
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .enumerate()
    {
        for module in line.split_whitespace() {
            assert!(
                layers.insert(module.to_owned(), level).is_none(),
                "`{module}` is listed twice"
            );
        }
    }
    layers
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/api/openai.rs` → `api`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// Every `crate::name` in `line`.
fn crate_paths(line: &str) -> impl Iterator<Item = &str> {
    line.match_indices("crate::").filter_map(move |(at, _)| {
        let rest = &line[at + "crate::".len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        // `crate::{a, b}` groups are not used in this code base; a lowercase name is a module.
        (!name.is_empty() && name.starts_with(|c: char| c.is_ascii_lowercase())).then_some(name)
    })
}

#[test]
fn no_import_runs_back_up_the_layers() {
    let layers = layers();
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let Some(&own) = layers.get(&module) else {
            violations.push(format!("`{module}` is not in ARCHITECTURE.md's layer list"));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for target in crate_paths(line) {
                if target == module {
                    continue;
                }
                match layers.get(target) {
                    Some(&level) if level > own => {}
                    Some(_) => violations.push(format!(
                        "{}:{}: `{module}` imports `{target}`, which is not below it",
                        file.strip_prefix(ROOT).unwrap().display(),
                        n + 1
                    )),
                    None => violations.push(format!(
                        "{}:{}: `{target}` is not in the layer list",
                        file.strip_prefix(ROOT).unwrap().display(),
                        n + 1
                    )),
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn every_module_of_the_crate_is_placed() {
    let layers = layers();
    let lib = std::fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(declared.len() > 10, "lib.rs declares its modules");
    for module in declared {
        assert!(
            layers.contains_key(module),
            "`{module}` is not placed in the layers"
        );
    }
}

#[test]
fn crate_paths_are_read_from_lines() {
    let cases = [
        ("use crate::router::attempt;", vec!["router"]),
        (
            "let x = crate::clock::unix_now() + crate::tokens::X;",
            vec!["clock", "tokens"],
        ),
        ("/// see [`f`](crate::providers::f)", vec!["providers"]),
        ("use crate::Foo;", vec![]),
        ("no paths here", vec![]),
    ];
    for (line, want) in cases {
        assert_eq!(crate_paths(line).collect::<Vec<_>>(), want, "{line}");
    }
}
