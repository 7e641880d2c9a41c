//! The walls of docs/architecture.md, checked in the source: only the
//! runtime names tract, the pipeline imports no device or kiosk code, the
//! drivers import neither the board nor the kiosk, the CLI's kiosk file only
//! parses, no source file passes 400 lines without its tests, and nothing
//! cites a file outside the repository.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every .rs file under `dir` (relative to the crate root), with its text.
fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    fn walk(p: &Path, out: &mut Vec<(PathBuf, String)>) {
        if p.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(p).unwrap().flatten().map(|e| e.path()).collect();
            entries.sort();
            for e in entries {
                walk(&e, out);
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push((p.to_path_buf(), std::fs::read_to_string(p).unwrap()));
        }
    }
    let mut out = Vec::new();
    walk(&root().join(dir), &mut out);
    assert!(!out.is_empty(), "no sources under {dir}");
    out
}

/// The code of a file without its `#[cfg(test)]` module and comments.
fn code(text: &str) -> String {
    let body = text.split("#[cfg(test)]").next().unwrap();
    body.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn assert_no_import(dir: &str, forbidden: &[&str]) {
    for (path, text) in sources(dir) {
        let code = code(&text);
        for f in forbidden {
            assert!(!code.contains(f), "{} uses {f}", path.display());
        }
    }
}

#[test]
fn only_the_runtime_names_tract() {
    for (path, text) in sources("src") {
        if path.starts_with(root().join("src/runtime")) {
            continue;
        }
        // Its crates, and its name in messages, help texts and comments (not "attract").
        let named = text.match_indices("tract").any(|(i, _)| !text[..i].ends_with(|c: char| c.is_ascii_alphabetic()));
        assert!(!named, "{} names tract", path.display());
    }
}

#[test]
fn the_pipeline_knows_no_devices_kiosk_or_provenance() {
    assert_no_import(
        "src/pipeline",
        &["crate::display", "crate::input", "crate::kiosk", "crate::board", "crate::watermark", "crate::feedback", "crate::filter", "crate::cli"],
    );
}

#[test]
fn drivers_know_neither_the_board_nor_the_kiosk() {
    for dir in ["src/input", "src/display"] {
        assert_no_import(dir, &["crate::kiosk", "crate::board", "crate::cli"]);
    }
    assert_no_import("src/board", &["crate::kiosk", "crate::cli"]);
}

#[test]
fn the_cli_kiosk_file_only_parses() {
    let text = std::fs::read_to_string(root().join("src/cli/kiosk.rs")).unwrap();
    for device in ["display::open", "serial::", "gpio::", "GpioButtons", "add_source", "SigSet", "thread::"] {
        assert!(!code(&text).contains(device), "src/cli/kiosk.rs opens devices itself ({device})");
    }
}

#[test]
fn source_files_stay_short() {
    for (path, text) in sources("src") {
        let lines = text.split("#[cfg(test)]").next().unwrap().lines().count();
        assert!(lines <= 400, "{} has {lines} lines without its tests (at most 400)", path.display());
    }
}

#[test]
fn nothing_cites_files_outside_the_repository() {
    // Every text file of the repository (not build output or scratch runs).
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if name.starts_with('.') || ["target", "runs", "__pycache__"].contains(&name) {
                return;
            }
            for e in std::fs::read_dir(p).unwrap().flatten() {
                walk(&e.path(), out);
            }
        } else if ["rs", "py", "md", "toml", "sh", "txt", "json", "service"]
            .iter()
            .any(|ext| p.extension().is_some_and(|e| e == *ext))
        {
            out.push(p.to_path_buf());
        }
    }
    let mut files = Vec::new();
    walk(&root(), &mut files);
    let this = root().join("tests/architecture.rs");
    assert!(files.len() > 100, "only {} text files found", files.len());
    for path in files.iter().filter(|p| **p != this) {
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        for outside in ["DESIGN.md", "shared/", "SCENES.md"] {
            assert!(!text.contains(outside), "{} cites {outside}", path.display());
        }
    }
}
