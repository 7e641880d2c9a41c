//! The self-check scorer (issue 16): the shipped scorer gives onnxruntime's
//! scores (golden file by scripts/fixtures/make_scorer_fixture.py),
//! `generate --best-of` keeps the best candidate reproducibly, `score`
//! prints the same numbers, and bad input is one error line, exit 2.

mod common;
use common::*;
use edgepaint::bundle::Bundle;
use edgepaint::image::{read_png, read_png_text};
use edgepaint::scorer::{cosine, Scorer};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/scenes")
}

#[test]
fn the_shipped_scorer_gives_onnxruntimes_scores() {
    let golden = read_json(&fixture("scorer/scores.json"));
    let scorer = Scorer::load(&Bundle::load(&shipped()).unwrap()).unwrap();
    for scene in golden["scenes"].as_array().unwrap() {
        let bytes = std::fs::read(fixture(&format!("scorer/{}", scene["image"].as_str().unwrap()))).unwrap();
        let picture = scorer.image_embedding(&read_png(&bytes).unwrap()).unwrap();
        let mut ours = Vec::new();
        for p in scene["prompts"].as_array().unwrap() {
            let score = cosine(&picture, &scorer.text_embedding(p["prompt"].as_str().unwrap()).unwrap());
            let want = p["score"].as_f64().unwrap() as f32;
            assert!((score - want).abs() < 1e-4, "{}: {score} against onnxruntime's {want}", p["prompt"]);
            ours.push(score);
        }
        // The caption that describes the picture outscores each one-attribute edit of it.
        assert!(ours[1..].iter().all(|s| *s < ours[0]), "{}: {ours:?}", scene["image"]);
    }
}

fn run(args: &[&str], model: &Path) -> (i32, String, String) {
    let out = edgepaint_command().args(args).arg("--model").arg(model).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn best_of_keeps_the_best_candidate_and_it_reproduces() {
    let dir = tempfile::tempdir().unwrap();
    let best = dir.path().join("best.png");
    let prompt = "a red house on the left in the desert at noon";
    let (code, stdout, stderr) =
        run(&["generate", prompt, "--seed", "11", "--steps", "1", "--best-of", "3", "--json", "-o", best.to_str().unwrap()], &shipped());
    assert_eq!(code, 0, "{stderr}");
    let j: Value = serde_json::from_str(&stdout).unwrap();
    let candidates = j["best_of"]["candidates"].as_array().unwrap();
    let seeds: Vec<u64> = candidates.iter().map(|c| c["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, vec![11, 12, 13]);
    let scores: Vec<f64> = candidates.iter().map(|c| c["score"].as_f64().unwrap()).collect();
    let top = scores.iter().cloned().fold(f64::MIN, f64::max);
    let kept = seeds[scores.iter().position(|s| *s == top).unwrap()];
    assert_eq!(j["seed"].as_u64(), Some(kept));
    assert_eq!(j["best_of"]["score"].as_f64(), Some(top));
    let text = read_png_text(&std::fs::read(&best).unwrap()).unwrap();
    let get = |k: &str| text.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap();
    assert_eq!((get("best_of"), get("seed")), ("3".to_string(), kept.to_string()));
    assert_eq!(get("score"), format!("{top:.4}"));

    // The kept picture is `generate` with its own seed, pixel for pixel.
    let single = dir.path().join("single.png");
    let (code, _, stderr) = run(&["generate", prompt, "--seed", &kept.to_string(), "--steps", "1", "-o", single.to_str().unwrap()], &shipped());
    assert_eq!(code, 0, "{stderr}");
    let pixels = |p: &Path| read_png(&std::fs::read(p).unwrap()).unwrap().pixels;
    assert_eq!(pixels(&best), pixels(&single));

    // `score` reads the saved picture: its invisible watermark moves the score a little.
    let (code, stdout, stderr) = run(&["score", best.to_str().unwrap(), prompt, "a boat on the sea", "--json"], &shipped());
    assert_eq!(code, 0, "{stderr}");
    let j: Value = serde_json::from_str(&stdout).unwrap();
    let s: Vec<f64> = j["scores"].as_array().unwrap().iter().map(|s| s["score"].as_f64().unwrap()).collect();
    assert!((s[0] - top).abs() < 0.02, "{s:?} against {top}");
    assert!(s[1] < s[0], "{s:?}");
}

/// The shipped bundle, copied, with its `[scorer]` claiming `embed_dim`.
fn scenes_with_embed_dim(dir: &Path, embed_dim: usize) -> PathBuf {
    for entry in std::fs::read_dir(shipped()).unwrap().flatten() {
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let manifest = std::fs::read_to_string(dir.join("model.toml")).unwrap();
    assert!(manifest.contains("embed_dim = 128"));
    std::fs::write(dir.join("model.toml"), manifest.replace("embed_dim = 128", &format!("embed_dim = {embed_dim}"))).unwrap();
    dir.to_path_buf()
}

#[test]
fn bad_best_of_and_score_requests_are_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.png");
    let out = out.to_str().unwrap();
    let one_error = |(code, stdout, stderr): (i32, String, String), says: &str| {
        assert_eq!(code, 2, "{stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(says), "{stderr}");
    };
    one_error(run(&["generate", "a tree", "--best-of", "0", "-o", out], &shipped()), "1 to 16");
    one_error(run(&["generate", "a tree", "--best-of", "17", "-o", out], &shipped()), "1 to 16");
    let latents = dir.path().join("l.npy");
    // A valid .npy of shape (1, 4, 16, 16) float32: header padded to 64 bytes.
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, 16, 16), }";
    let padded = format!("{header:<width$}\n", width = 64 - 10 - 1);
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    npy.extend_from_slice(padded.as_bytes());
    npy.extend(std::iter::repeat_n(0u8, 4 * 4 * 16 * 16));
    std::fs::write(&latents, npy).unwrap();
    one_error(
        run(&["generate", "a tree", "--best-of", "2", "--latents", latents.to_str().unwrap(), "-o", out], &shipped()),
        "seeded noise",
    );
    one_error(run(&["generate", "a tree", "--best-of", "2", "-o", out], &fixture("bundles/tiny-flow")), "has no scorer");
    one_error(run(&["score", out, "a tree"], &fixture("bundles/tiny-flow")), "x.png");
    one_error(run(&["score", "Cargo.toml", "a tree"], &shipped()), "not a PNG or JPEG");
    one_error(run(&["score", "Cargo.toml", "a tree"], &fixture("bundles/tiny-flow")), "not a PNG or JPEG");

    // A scorer whose graphs do not give the manifest's embedding: refused, the field named.
    let png = fixture("scorer/scene-0.png");
    let bad = tempfile::tempdir().unwrap();
    let bundle = scenes_with_embed_dim(bad.path(), 64);
    one_error(run(&["score", png.to_str().unwrap(), "a tree"], &bundle), "scorer.image");
    one_error(run(&["generate", "a tree", "--best-of", "2", "-o", out], &bundle), "scorer.image");
}

#[test]
fn an_exported_clip_scorer_gives_transformers_scores() {
    // A tiny random CLIPModel exported by `export_diffusers --scorer-clip`;
    // golden cosines by transformers itself (make_diffusers_fixtures.py).
    let golden = read_json(&fixture("diffusers/sd-turbo/reference/scorer.json"));
    let bundle = Bundle::load(&fixture("diffusers/sd-turbo/model-scorer.toml")).unwrap();
    let scorer = Scorer::load(&bundle).unwrap();
    let bytes = std::fs::read(fixture("diffusers/sd-turbo/reference/scorer_picture.png")).unwrap();
    // 64 x 64, resized to the CLIP tower's 32 x 32 on the way in.
    let picture = scorer.image_embedding(&read_png(&bytes).unwrap()).unwrap();
    for p in golden["prompts"].as_array().unwrap() {
        let score = cosine(&picture, &scorer.text_embedding(p["prompt"].as_str().unwrap()).unwrap());
        let want = p["score"].as_f64().unwrap() as f32;
        assert!((score - want).abs() < 1e-4, "{}: {score} against transformers' {want}", p["prompt"]);
    }
}

#[test]
fn candidates_of_one_prompt_encode_it_once() {
    use edgepaint::pipeline::{Options, Pipeline, Request};
    use std::ops::ControlFlow;
    let mut pipeline = Pipeline::load(&shipped(), Options::new(true, None)).unwrap();
    let run = |p: &mut Pipeline, prompt: &str, seed| {
        let request = Request { steps: Some(1), ..Request::new(prompt, seed) };
        p.generate(&request, &mut |_| ControlFlow::Continue(())).unwrap()
    };
    let first = run(&mut pipeline, "a boat on the sea", 1);
    assert!(first.timings.text_ms > 0.0);
    // The same prompt again (another candidate): its text states are
    // remembered, so the text encoder neither runs nor (low-memory) loads.
    let again = run(&mut pipeline, "a boat on the sea", 1);
    assert_eq!(again.timings.text_ms, 0.0);
    assert_eq!(again.image, first.image);
    assert!(run(&mut pipeline, "a tree on the grass", 1).timings.text_ms > 0.0);
    pipeline.forget_text();
    let fresh = run(&mut pipeline, "a tree on the grass", 2);
    assert!(fresh.timings.text_ms > 0.0);
}
