//! The `edgepaint` binary end to end on the fixture bundle: determinism,
//! metadata, --json, and the exact one-line error for each kind of bad input.

mod common;
use common::fixture;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

fn edgepaint<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    common::edgepaint_command()
        .args(args)
        .env_remove("EDGEPAINT_MODEL")
        .output()
        .expect("runs")
}

fn flow_bundle() -> PathBuf {
    fixture("bundles/tiny-flow")
}

fn generate(prompt: &str, seed: &str, out: &Path) -> Output {
    edgepaint([
        OsStr::new("generate"),
        OsStr::new(prompt),
        OsStr::new("--seed"),
        OsStr::new(seed),
        OsStr::new("--model"),
        flow_bundle().as_os_str(),
        OsStr::new("--output"),
        out.as_os_str(),
    ])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code 2 and exactly one line on stderr: "error: <expected>".
fn assert_error(o: &Output, expected: &str) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert_eq!(err.trim_end(), format!("error: {expected}"));
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"));
}

#[test]
fn same_seed_same_png_other_seed_other_png() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a.png"), dir.path().join("b.png"), dir.path().join("c.png"));
    for (path, seed) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        let o = generate("a red house on a snowy field at night", seed, path);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let (a, b, c) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap(), std::fs::read(c).unwrap());
    assert_eq!(a, b, "same seed gave different files");
    let (ia, ic) = (edgepaint::image::read_png(&a).unwrap(), edgepaint::image::read_png(&c).unwrap());
    assert_ne!(ia.pixels, ic.pixels, "different seeds gave the same picture");
}

#[test]
fn png_carries_prompt_seed_steps_and_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("meta.png");
    let prompt = "ein rotes Haus im Schnee – nachts ☃";
    let o = generate(prompt, "11", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&out).unwrap();
    let image = edgepaint::image::read_png(&bytes).unwrap();
    assert_eq!((image.width, image.height), (64, 64));
    let text = edgepaint::image::read_png_text(&bytes).unwrap();
    let get = |k: &str| text.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(get("prompt").as_deref(), Some(prompt));
    assert_eq!(get("seed").as_deref(), Some("11"));
    assert_eq!(get("steps").as_deref(), Some("4"));
    assert_eq!(get("model").as_deref(), Some("tiny-flow"));
    let toml_sha = edgepaint::bundle::sha256_file(&flow_bundle().join("model.toml")).unwrap();
    assert_eq!(get("model_sha256"), Some(toml_sha));
}

#[test]
fn json_reports_seed_steps_timings_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("j.png");
    let o = edgepaint([
        OsStr::new("generate"),
        OsStr::new("sunset over the ocean"),
        OsStr::new("--steps"),
        OsStr::new("2"),
        OsStr::new("--model"),
        flow_bundle().as_os_str(),
        OsStr::new("--output"),
        out.as_os_str(),
        OsStr::new("--json"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object on stdout");
    assert_eq!(v["steps"], 2);
    assert!(v["seed"].is_u64(), "a random seed is reported");
    assert_eq!(v["output"], out.display().to_string());
    assert_eq!(v["timings"]["steps_ms"].as_array().unwrap().len(), 2);
    for k in ["load_ms", "text_ms", "decode_ms", "total_ms"] {
        assert!(v["timings"][k].is_f64(), "{k}");
    }
    let sha = edgepaint::bundle::sha256_file(&out).unwrap();
    assert_eq!(v["sha256"], sha);
    // The random seed is the one stored in the file.
    let text = edgepaint::image::read_png_text(&std::fs::read(&out).unwrap()).unwrap();
    let seed = text.iter().find(|(k, _)| k == "seed").unwrap().1.clone();
    assert_eq!(seed, v["seed"].to_string());
}

#[test]
fn low_memory_mode_gives_the_same_picture() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    assert!(generate("a tree on a meadow", "3", &a).status.success());
    let o = edgepaint([
        OsStr::new("generate"),
        OsStr::new("a tree on a meadow"),
        OsStr::new("--seed"),
        OsStr::new("3"),
        OsStr::new("--low-memory"),
        OsStr::new("--model"),
        flow_bundle().as_os_str(),
        OsStr::new("--output"),
        b.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn thread_count_does_not_change_the_picture() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/scenes");
    let mut files = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = dir.path().join(format!("t{threads}.png"));
        let o = edgepaint([
            OsStr::new("generate"),
            OsStr::new("a tree on a meadow"),
            OsStr::new("--seed"),
            OsStr::new("5"),
            OsStr::new("--threads"),
            OsStr::new(threads),
            // The shipped model: the fixtures' matrices are too small for tract to split.
            OsStr::new("--model"),
            shipped.as_os_str(),
            OsStr::new("--output"),
            out.as_os_str(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        files.push(std::fs::read(out).unwrap());
    }
    assert_eq!(files[0], files[1], "1 and 2 threads differ");
    assert_eq!(files[0], files[2], "1 and 3 threads differ");
}

#[test]
fn long_prompt_is_truncated_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("long.png");
    let prompt = "a red house on a snowy field at night ".repeat(2000);
    let o = generate(&prompt, "1", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: the prompt was truncated to the model's 16 tokens"), "{}", stderr(&o));
    assert!(out.exists());
}

#[test]
fn empty_prompt_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert_error(&generate("   ", "1", &dir.path().join("x.png")), "the prompt is empty");
}

#[test]
fn non_utf8_prompt_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.png");
    let o = edgepaint([
        OsStr::new("generate"),
        OsStr::from_bytes(b"a red \xff house"),
        OsStr::new("--model"),
        flow_bundle().as_os_str(),
        OsStr::new("--output"),
        out.as_os_str(),
    ]);
    assert_error(&o, "the prompt is not valid UTF-8");
}

#[test]
fn steps_outside_the_bundle_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for steps in ["0", "3", "99"] {
        let o = edgepaint([
            OsStr::new("generate"),
            OsStr::new("a house"),
            OsStr::new("--steps"),
            OsStr::new(steps),
            OsStr::new("--model"),
            flow_bundle().as_os_str(),
            OsStr::new("--output"),
            dir.path().join("x.png").as_os_str(),
        ]);
        assert_error(&o, &format!("steps must be one of 1, 2, 4 for model tiny-flow (got {steps})"));
    }
}

#[test]
fn unwritable_output_is_refused_before_generating() {
    let o = generate("a house", "1", Path::new("/nonexistent-dir/x.png"));
    assert_error(&o, "cannot write /nonexistent-dir/x.png: the folder /nonexistent-dir does not exist");
    let dir = tempfile::tempdir().unwrap();
    let o = generate("a house", "1", dir.path());
    assert_error(&o, &format!("cannot write {}: it is a directory", dir.path().display()));
}

#[test]
fn missing_bundle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let o = edgepaint([OsStr::new("info"), OsStr::new("--model"), missing.as_os_str()]);
    assert_error(
        &o,
        &format!(
            "cannot load the model bundle {0}: {0}/model.toml: cannot read the bundle manifest: No such file or directory (os error 2)",
            missing.display()
        ),
    );
}

/// Copy the fixture bundle so a test can break it.
fn broken_copy(edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(flow_bundle()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    edit(dir.path());
    dir
}

fn info(dir: &Path) -> Output {
    edgepaint([OsStr::new("info"), OsStr::new("--model"), dir.as_os_str()])
}

fn edit_toml(dir: &Path, from: &str, to: &str) {
    let p = dir.join("model.toml");
    let s = std::fs::read_to_string(&p).unwrap();
    assert!(s.contains(from), "fixture manifest lacks {from:?}");
    std::fs::write(&p, s.replacen(from, to, 1)).unwrap();
}

#[test]
fn corrupt_file_is_refused_naming_file_and_hash_field() {
    let dir = broken_copy(|d| {
        let p = d.join("denoiser.onnx");
        let mut bytes = std::fs::read(&p).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(p, bytes).unwrap();
    });
    let o = info(dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains(&format!("{}/denoiser.onnx: sha256 mismatch: denoiser.sha256 says", dir.path().display())),
        "{err}"
    );
}

#[test]
fn missing_file_is_refused_naming_it() {
    let dir = broken_copy(|d| std::fs::remove_file(d.join("decoder.onnx")).unwrap());
    let o = info(dir.path());
    assert_error(
        &o,
        &format!(
            "cannot load the model bundle {0}: {0}/decoder.onnx: cannot read (named by decoder.file): No such file or directory (os error 2)",
            dir.path().display()
        ),
    );
}

#[test]
fn unknown_kind_is_refused_naming_the_field() {
    let dir = broken_copy(|d| edit_toml(d, "kind = \"flow-euler\"", "kind = \"warp-drive\""));
    let o = info(dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("model.toml") && err.contains("unknown variant `warp-drive`") && err.contains("scheduler.kind"), "{err}");
}

#[test]
fn wrong_shapes_are_refused_naming_file_and_field() {
    // The manifest promises 16x16 latents; the graphs were exported for 8x8.
    let dir = broken_copy(|d| edit_toml(d, "height = 8", "height = 16"));
    let out = dir.path().join("x.png");
    let o = edgepaint([
        OsStr::new("generate"),
        OsStr::new("a house"),
        OsStr::new("--model"),
        dir.path().as_os_str(),
        OsStr::new("--output"),
        out.as_os_str(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("{}/", dir.path().display())) && err.contains(".onnx"), "{err}");
    assert!(!out.exists());
}

#[test]
fn missing_step_table_entry_is_refused() {
    let dir = broken_copy(|d| edit_toml(d, "default_steps = 4", "default_steps = 3"));
    let o = info(dir.path());
    assert_error(
        &o,
        &format!(
            "cannot load the model bundle {0}: {0}/model.toml: field `scheduler.default_steps`: 3 has no entry in scheduler.timesteps",
            dir.path().display()
        ),
    );
}

#[test]
fn info_describes_the_bundle() {
    let o = info(&flow_bundle());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("model:       tiny-flow"), "{out}");
    assert!(out.contains("steps 1, 2, 4 (default 4)"), "{out}");
}

#[test]
fn latents_file_reproduces_the_reference_run() {
    // reference.json's first case: diffusers + onnxruntime from noise0.npy.
    let bundle = flow_bundle();
    let reference = common::read_json(&bundle.join("reference.json"));
    let case = &reference["cases"][0];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("latents.png");
    let o = edgepaint([
        OsStr::new("generate"),
        OsStr::new(case["prompt"].as_str().unwrap()),
        OsStr::new("--latents"),
        bundle.join("noise0.npy").as_os_str(),
        OsStr::new("--model"),
        bundle.as_os_str(),
        OsStr::new("--output"),
        out.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let image = edgepaint::image::read_png(&std::fs::read(&out).unwrap()).unwrap();
    let reference = edgepaint::image::RgbImage::from_chw(&common::floats(&case["image"]), 64, 64, [-1.0, 1.0]);
    // The file is the reference picture plus the watermark (added after the
    // pipeline): mark the reference the same way and compare.
    let model_sha = edgepaint::bundle::sha256_file(&bundle.join("model.toml")).unwrap();
    let expected = edgepaint::watermark::Stamp::default().mark(&reference, &model_sha);
    let worst = image.pixels.iter().zip(&expected.pixels).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
    assert!(worst <= 2, "differs from the marked reference by {worst} levels");
}

#[test]
fn latents_of_the_wrong_shape_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("bad.npy");
    // A valid .npy of shape (1, 4, 4, 4) float32: header padded to 64 bytes.
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, 4, 4), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<width$}\n", width = 64 - 10 - 1);
    bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    bytes.extend_from_slice(padded.as_bytes());
    bytes.extend(std::iter::repeat(0u8).take(64 * 4));
    std::fs::write(&npy, bytes).unwrap();
    let o = edgepaint([
        OsStr::new("generate"),
        OsStr::new("a house"),
        OsStr::new("--latents"),
        npy.as_os_str(),
        OsStr::new("--model"),
        flow_bundle().as_os_str(),
        OsStr::new("--output"),
        dir.path().join("x.png").as_os_str(),
    ]);
    assert_error(&o, "initial latents have shape [1, 4, 4, 4], the model needs [1, 4, 8, 8]");
}
