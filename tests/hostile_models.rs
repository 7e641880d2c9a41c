//! A bundle never kills the process (issue 18): graphs on which tract 0.23.9
//! panics (scripts/fixtures/make_graph_fixtures.py: `panic_*.onnx`, each
//! swapped in as tiny-flow's decoder) give one clear error, in the library,
//! in `generate` (exit 2) and in the kiosk (`generation_failed`, and it
//! serves the next line); manifest numbers that would reach the pixels as
//! NaN or junk are refused with the field named.

mod common;
use common::*;
use edgepaint::bundle::Bundle;
use edgepaint::pipeline::{Options, Pipeline, Request};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// tiny-flow with `decoder.onnx` replaced by `graph` (hash fixed).
fn bundle_with_decoder(dir: &Path, graph: &str) -> PathBuf {
    for entry in std::fs::read_dir(fixture("bundles/tiny-flow")).unwrap().flatten() {
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    std::fs::copy(fixture(&format!("graphs/{graph}")), dir.join("decoder.onnx")).unwrap();
    let old = edgepaint::bundle::sha256_file(&fixture("bundles/tiny-flow/decoder.onnx")).unwrap();
    let new = edgepaint::bundle::sha256_file(&dir.join("decoder.onnx")).unwrap();
    let manifest = std::fs::read_to_string(dir.join("model.toml")).unwrap();
    std::fs::write(dir.join("model.toml"), manifest.replace(&old, &new)).unwrap();
    dir.to_path_buf()
}

fn generate(bundle: &Path) -> Result<(), String> {
    let mut pipeline = Pipeline::load(bundle, Options::default()).map_err(|e| e.to_string())?;
    let request = Request { prompt: "a tree".into(), seed: 1, steps: None, initial_latents: None };
    pipeline.generate(&request, &mut |_| ControlFlow::Continue(())).map(|_| ()).map_err(|e| e.to_string())
}

#[test]
fn graphs_that_make_tract_panic_are_errors() {
    for (graph, expected) in [
        ("panic_conv_zero_stride.onnx", "tract panicked"),
        ("panic_depth_to_space_zero.onnx", "tract panicked"),
        ("panic_gather_out_of_range.onnx", "tract panicked"),
        ("panic_no_outputs.onnx", "has no outputs"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let err = generate(&bundle_with_decoder(dir.path(), graph)).expect_err(graph);
        assert!(err.contains("decoder.onnx") && err.contains(expected), "{graph}: {err}");
    }
    // The process is fine afterwards: a good bundle still makes its picture.
    generate(&fixture("bundles/tiny-flow")).unwrap();
}

#[test]
fn generate_reports_a_tract_panic_as_one_error_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_with_decoder(dir.path(), "panic_gather_out_of_range.onnx");
    let out = edgepaint_command()
        .args(["generate", "a tree", "--model"])
        .arg(&bundle)
        .arg("-o")
        .arg(dir.path().join("x.png"))
        .env_remove("EDGEPAINT_MODEL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("panicked") || l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].starts_with("error: ") && errors[0].contains("gather.rs"), "{stderr}");
    assert!(!dir.path().join("x.png").exists());
}

#[test]
fn kiosk_answers_a_tract_panic_with_generation_failed_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("model")).unwrap();
    let bundle = bundle_with_decoder(&dir.path().join("model"), "panic_gather_out_of_range.onnx");
    let mut child = kiosk_command(dir.path(), &bundle, "none")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a tree\n/status\na boat\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let failed: Vec<&serde_json::Value> = events.iter().filter(|e| e["code"] == "generation_failed").collect();
    assert_eq!(failed.len(), 2, "{stdout}");
    assert!(failed[0]["message"].as_str().unwrap().contains("tract panicked"), "{stdout}");
    assert!(events.iter().any(|e| e["event"] == "status"), "{stdout}");
}

#[test]
fn manifest_numbers_out_of_range_are_refused() {
    for (from, to, field) in [
        ("shift_factor = 0.1", "shift_factor = inf", "decoder.shift_factor"),
        ("shift_factor = 0.1", "shift_factor = nan", "decoder.shift_factor"),
        ("output_range = [-1.0, 1.0]", "output_range = [-1e38, 1e38]", "decoder.output_range"),
        ("scaling_factor = 0.5", "scaling_factor = 1e-30", "decoder.scaling_factor"),
        ("[guidance]\nscale = 1.0", "[guidance]\nscale = 1e30", "guidance.scale"),
        ("pad_id = 0", "pad_id = -1", "tokenizer.pad_id"),
        // Found by fuzzing (scripts/fuzz.sh manifest): unbounded, and the DDPM
        // family tabulates every training timestep (a 400 GB allocation, abort).
        ("train_timesteps = 1000", "train_timesteps = 100000000000", "scheduler.train_timesteps"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let bundle = bundle_with_decoder(dir.path(), "../bundles/tiny-flow/decoder.onnx");
        let manifest = std::fs::read_to_string(bundle.join("model.toml")).unwrap();
        assert!(manifest.contains(from), "the fixture has no `{from}`");
        std::fs::write(bundle.join("model.toml"), manifest.replacen(from, to, 1)).unwrap();
        let err = Bundle::load(&bundle).err().unwrap_or_else(|| panic!("`{to}` was accepted")).to_string();
        assert!(err.contains(field), "{to}: {err}");
    }
}

#[test]
fn pad_id_outside_the_vocabulary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_with_decoder(dir.path(), "../bundles/tiny-flow/decoder.onnx");
    let manifest = std::fs::read_to_string(bundle.join("model.toml")).unwrap();
    std::fs::write(bundle.join("model.toml"), manifest.replacen("pad_id = 0", "pad_id = 1000000", 1)).unwrap();
    let err = Pipeline::load(&bundle, Options::default()).err().expect("pad_id 1000000 accepted").to_string();
    assert!(err.contains("pad_id 1000000 is outside the vocabulary"), "{err}");
}

#[test]
fn a_graph_from_a_future_opset_is_refused() {
    let path = fixture("graphs/future_opset.onnx");
    let spec = [edgepaint::runtime::InputSpec::new("latents", false, vec![1, 4, 8, 8])];
    let err = edgepaint::runtime::Graph::load(&path, &spec).err().expect("opset 9999 loaded").to_string();
    assert!(err.contains("opset 9999") && err.contains("up to 23"), "{err}");
}

#[test]
fn a_softmax_past_the_rank_is_refused_in_onnx_and_nnef() {
    // The board builds read NNEF: the same check, whatever the format.
    for file in ["softmax_axis_99.onnx", "softmax_axis_99.nnef.tgz"] {
        let path = fixture(&format!("graphs/{file}"));
        let spec = [edgepaint::runtime::InputSpec::new("latents", false, vec![1, 4, 8, 8])];
        let err = edgepaint::runtime::Graph::load(&path, &spec).err().expect("softmax axis 99 loaded").to_string();
        assert!(err.contains("Softmax over axis 99 of a rank-4 tensor"), "{file}: {err}");
    }
}
