//! Graphs over 2 GB keep their weights in ONNX external data. A bundle names
//! that one file with its sha256 (`data`, `data_sha256`), so every byte that
//! is run is checked: a changed, unlisted or misnamed data file is refused.
//! Fixture: scripts/fixtures/make_external_data_fixture.py (the sd-turbo fixture's
//! denoiser, stored as torch stores a real-size UNet, packed by the exporter).

mod common;
use common::*;
use edgepaint::bundle::Bundle;
use edgepaint::pipeline::{Options, Pipeline};
use std::path::{Path, PathBuf};

const EXTERNAL: &str = "model-external.toml";
const DATA: &str = "denoiser.external.onnx.data";

/// The sd-turbo fixture's files (not its reference outputs) in a temp folder.
fn copy_fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture("diffusers/sd-turbo")).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
        }
    }
    let manifest = tmp.path().join(EXTERNAL);
    (tmp, manifest)
}

fn edit_manifest(path: &Path, edit: impl Fn(&str) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, edit(&text)).unwrap();
}

fn load_error(manifest: &Path) -> String {
    match Pipeline::load(manifest, Options::default()) {
        Ok(_) => panic!("{} loaded", manifest.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn external_data_bundle_makes_the_same_picture() {
    let external = fixture("diffusers/sd-turbo").join(EXTERNAL);
    let bundle = Bundle::load(&external).unwrap();
    assert_eq!(bundle.manifest.denoiser.data.as_deref(), Some(DATA));
    assert_eq!(fox_picture(&external), fox_picture(&fixture("diffusers/sd-turbo/model-f32.toml")));
}

#[test]
fn changed_data_file_of_the_same_size_is_refused() {
    let (_tmp, manifest) = copy_fixture();
    let data = manifest.parent().unwrap().join(DATA);
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&data, &bytes).unwrap();
    let msg = Bundle::load(&manifest).unwrap_err().to_string();
    assert!(msg.contains(DATA) && msg.contains("sha256 mismatch") && msg.contains("denoiser.data_sha256"), "{msg}");
}

#[test]
fn unlisted_external_data_is_refused() {
    let (_tmp, manifest) = copy_fixture();
    edit_manifest(&manifest, |t| {
        t.lines().filter(|l| !l.starts_with("data")).collect::<Vec<_>>().join("\n")
    });
    // Every listed file is fine; the graph itself names a file nobody hashed.
    Bundle::load(&manifest).unwrap();
    let msg = load_error(&manifest);
    assert!(msg.contains("denoiser.external.onnx") && msg.contains("does not list"), "{msg}");
}

#[test]
fn data_naming_another_file_is_refused() {
    let (_tmp, manifest) = copy_fixture();
    let dir = manifest.parent().unwrap().to_path_buf();
    std::fs::copy(dir.join(DATA), dir.join("other.data")).unwrap();
    edit_manifest(&manifest, |t| t.replace(&format!("data = \"{DATA}\""), "data = \"other.data\""));
    Bundle::load(&manifest).unwrap();
    let msg = load_error(&manifest);
    assert!(msg.contains(DATA) && msg.contains("other.data"), "{msg}");
}

#[test]
fn half_a_data_entry_is_refused() {
    let (_tmp, manifest) = copy_fixture();
    edit_manifest(&manifest, |t| t.lines().filter(|l| !l.starts_with("data_sha256")).collect::<Vec<_>>().join("\n"));
    let msg = Bundle::load(&manifest).unwrap_err().to_string();
    assert!(msg.contains("denoiser.data_sha256") && msg.contains("missing"), "{msg}");
}

#[test]
fn info_counts_the_data_file() {
    let out = edgepaint_command()
        .args(["info", "--model"])
        .arg(fixture("diffusers/sd-turbo").join(EXTERNAL))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("denoiser ") && l.contains(".onnx")).unwrap();
    assert!(line.contains(&format!("denoiser.external.onnx + {DATA} (0.4 MB)")), "{line}");
}
