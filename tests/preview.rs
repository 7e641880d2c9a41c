//! Previews (issue 15): after each step the pipeline can report the picture
//! as it stands, decoded from the sampler's estimate of the final latents.
//! They converge to the final picture, are off unless asked for, and
//! `generate --preview DIR` writes them as watermarked PNGs.

mod common;
use common::*;
use edgepaint::bundle::PreviewKind;
use edgepaint::image::RgbImage;
use edgepaint::pipeline::{Options, Pipeline, Progress, Request};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/scenes")
}

/// The final picture and every preview of one generation.
fn run(model: &Path, kind: Option<PreviewKind>, steps: Option<usize>) -> (RgbImage, Vec<(usize, usize, RgbImage)>) {
    let mut pipeline = Pipeline::load(model, Options::default()).unwrap();
    pipeline.set_preview(kind).unwrap();
    let request = Request { steps, ..Request::new("a red house on a snowy field at night", 7) };
    let mut previews = Vec::new();
    let generated = pipeline
        .generate(&request, &mut |p| {
            if let Progress::Preview { step, of, image } = p {
                previews.push((step, of, image));
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    (generated.image, previews)
}

fn mean_distance(a: &RgbImage, b: &RgbImage) -> f64 {
    let sum: u64 = a.pixels.iter().zip(&b.pixels).map(|(x, y)| (*x as i64 - *y as i64).unsigned_abs()).sum();
    sum as f64 / a.pixels.len() as f64
}

/// Previews come one per step, draw closer to the final picture, and the
/// last one is the final picture (both samplers end at noise level 0).
fn check_converges(model: &Path, steps: usize) {
    let (final_image, previews) = run(model, Some(PreviewKind::Decoder), Some(steps));
    let order: Vec<(usize, usize)> = previews.iter().map(|(s, of, _)| (*s, *of)).collect();
    assert_eq!(order, (1..=steps).map(|s| (s, steps)).collect::<Vec<_>>());
    let distances: Vec<f64> = previews.iter().map(|(_, _, img)| mean_distance(img, &final_image)).collect();
    eprintln!("{}: mean distance to the final picture per step {distances:?}", model.display());
    assert!(distances[0] > distances[steps - 1], "{distances:?}");
    assert_eq!(previews.last().unwrap().2, final_image, "the last preview is not the final picture");
}

#[test]
fn previews_converge_to_the_picture_on_the_shipped_model() {
    check_converges(&shipped(), 4);
}

#[test]
fn previews_converge_on_a_diffusers_bundle() {
    // sd-turbo fixture: Euler trailing, AutoencoderKL.
    check_converges(&fixture("diffusers/sd-turbo"), 4);
}

#[test]
fn previews_are_off_unless_asked_and_leave_the_picture_alone() {
    let (plain, none) = run(&shipped(), None, None);
    assert!(none.is_empty());
    let (with, previews) = run(&shipped(), Some(PreviewKind::Decoder), None);
    assert!(!previews.is_empty());
    assert_eq!(plain, with);
    let (_, off) = run(&shipped(), Some(PreviewKind::None), None);
    assert!(off.is_empty());
}

#[test]
fn generate_writes_each_step_as_a_png_with_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let previews = dir.path().join("steps");
    let out = dir.path().join("final.png");
    let status = edgepaint_command()
        .args(["generate", "a red house", "--seed", "3", "--steps", "2", "--model"])
        .arg(shipped())
        .arg("--output")
        .arg(&out)
        .arg("--preview")
        .arg(&previews)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    for step in 1..=2 {
        let bytes = std::fs::read(previews.join(format!("step-{step}.png"))).unwrap();
        let text = edgepaint::image::read_png_text(&bytes).unwrap();
        assert!(text.contains(&("preview_step".to_string(), format!("{step}/2"))), "{text:?}");
        assert!(text.iter().any(|(k, v)| k == "seed" && v == "3"));
    }
    assert!(!previews.join("step-3.png").exists());
}

#[test]
fn generate_refuses_a_preview_folder_it_cannot_make_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = dir.path().join("final.png");
    let result = edgepaint_command()
        .args(["generate", "a red house", "--seed", "3", "--model"])
        .arg(shipped())
        .arg("--output")
        .arg(&out)
        .arg("--preview")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("not a folder"), "{stderr}");
    assert!(!out.exists());
}

/// A copy of the shipped bundle whose manifest ends with `extra` instead of
/// its own preview table.
fn shipped_with(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(shipped()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let manifest = dir.path().join("model.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    // A [preview] table is the manifest's last (preview_fit.py): replaced by `extra`.
    let text = text.split("\n[preview]\n").next().unwrap();
    std::fs::write(&manifest, format!("{text}\n{extra}")).unwrap();
    dir
}

#[test]
fn fast_previews_follow_the_decoders_colours() {
    // The map scripts/export/preview_fit.py fitted on the shipped decoder.
    let fast = std::fs::read_to_string(fixture("preview/scenes-fast.toml")).unwrap();
    let bundle = shipped_with(&fast);
    let (final_image, previews) = run(bundle.path(), Some(PreviewKind::Fast), Some(4));
    assert_eq!(previews.len(), 4);
    let last = &previews[3].2;
    assert_eq!((last.width, last.height), (final_image.width, final_image.height));
    // Against the final picture: closer than the picture's own mean colour.
    let n = final_image.pixels.len() / 3;
    let mean: Vec<f64> = (0..3).map(|c| final_image.pixels.iter().skip(c).step_by(3).map(|&v| v as f64).sum::<f64>() / n as f64).collect();
    let flat = RgbImage {
        width: final_image.width,
        height: final_image.height,
        pixels: (0..n).flat_map(|_| mean.iter().map(|m| m.round() as u8)).collect(),
    };
    let (fast_d, flat_d) = (mean_distance(last, &final_image), mean_distance(&flat, &final_image));
    eprintln!("fast preview vs final picture: {fast_d:.1} levels; a flat mean colour: {flat_d:.1}");
    assert!(fast_d < flat_d, "the fast preview ({fast_d:.1} levels) is no closer than a flat colour ({flat_d:.1})");
}

#[test]
fn a_fast_preview_without_its_map_is_refused_naming_the_field() {
    for (extra, field) in [
        ("[preview]\nkind = \"fast\"\n", "preview.matrix"),
        ("[preview]\nkind = \"fast\"\nmatrix = [[1, 0, 0]]\nbias = [0, 0, 0]\n", "preview.matrix"),
        ("[preview]\nkind = \"fast\"\nmatrix = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]\n", "preview.bias"),
        ("[preview]\nkind = \"fast\"\nmatrix = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]\nbias = [0, nan, 0]\n", "preview.bias"),
        ("[preview]\nkind = \"blurry\"\n", "preview"),
    ] {
        let bundle = shipped_with(extra);
        let e = Pipeline::load(bundle.path(), Options::default()).err().expect(extra).to_string();
        assert!(e.contains(field), "{extra}: {e}");
    }
}

/// The initial latents diffusers started the sd-turbo fixture from.
fn fixture_latents() -> edgepaint::tensor::Tensor {
    let (shape, data) = read_npy_f32(&fixture("diffusers/sd-turbo/reference/latents.npy"));
    edgepaint::tensor::Tensor::new(shape, data)
}

#[test]
fn tiny_previews_run_the_small_decoder_beside_the_vae() {
    // sd-turbo fixture + an AutoencoderTiny exported by --preview-taesd
    // (scripts/fixtures/make_diffusers_fixtures.py): model-tiny.toml.
    let model = fixture("diffusers/sd-turbo/model-tiny.toml");
    let mut pipeline = Pipeline::load(&model, Options::default()).unwrap();
    assert_eq!(pipeline.bundle_preview(), PreviewKind::Tiny);
    pipeline.set_preview(Some(PreviewKind::Tiny)).unwrap();
    let request = Request { initial_latents: Some(fixture_latents()), steps: Some(4), ..Request::new("a photo of a red fox in the snow, 35mm, golden hour", 0) };
    let mut previews = Vec::new();
    let generated = pipeline
        .generate(&request, &mut |p| {
            if let Progress::Preview { image, .. } = p {
                previews.push(image);
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(previews.len(), 4);
    // The last preview is diffusers' AutoencoderTiny on the final latents.
    let (shape, decoded) = read_npy_f32(&fixture("diffusers/sd-turbo/reference/preview_decoded.npy"));
    let want = RgbImage::from_chw(&decoded, shape[2], shape[3], [-1.0, 1.0]);
    let last = previews.last().unwrap();
    let worst = last.pixels.iter().zip(&want.pixels).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
    assert!(worst <= 1, "the last tiny preview is up to {worst} levels from diffusers' AutoencoderTiny");
    // It draws closer to that picture step by step, and the picture itself is the VAE's.
    let distances: Vec<f64> = previews.iter().map(|p| mean_distance(p, &want)).collect();
    assert!(distances[0] > distances[3], "{distances:?}");
    assert_ne!(&generated.image, last, "the final picture comes from the full VAE, not the preview decoder");
}

#[test]
fn tiny_is_refused_where_the_bundle_has_no_preview_decoder() {
    let mut pipeline = Pipeline::load(&fixture("diffusers/sd-turbo/model-f32.toml"), Options::default()).unwrap();
    let e = pipeline.set_preview(Some(PreviewKind::Tiny)).unwrap_err().to_string();
    assert!(e.contains("no tiny preview decoder"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.png");
    let o = edgepaint_command()
        .args(["generate", "a fox", "--preview-kind", "tiny", "--model"])
        .arg(fixture("diffusers/sd-turbo/model-f32.toml"))
        .arg("--output")
        .arg(&out)
        .arg("--preview")
        .arg(dir.path().join("steps"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no tiny preview decoder"));
    assert!(!out.exists());
}

#[test]
fn a_tiny_preview_without_its_file_or_of_the_wrong_shape_is_refused_naming_the_field() {
    let src = fixture("diffusers/sd-turbo");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let text = std::fs::read_to_string(src.join("model-tiny.toml")).unwrap();
    let head = text.split("\n[preview]\n").next().unwrap().to_string();
    let sha = |f: &str| edgepaint::bundle::sha256_file(&dir.path().join(f)).unwrap();
    let cases = [
        ("kind = \"tiny\"\n".to_string(), "preview.file"),
        (format!("kind = \"tiny\"\nfile = \"preview_decoder.onnx\"\n"), "preview.sha256"),
        (format!("kind = \"tiny\"\nfile = \"preview_decoder.onnx\"\nsha256 = \"{}\"\nscaling_factor = 0.0\n", sha("preview_decoder.onnx")), "preview.scaling_factor"),
        // The full VAE's graph in tiled form would not be [1, 3, 64, 64]: a text encoder surely is not.
        (format!("kind = \"tiny\"\nfile = \"text_encoder.onnx\"\nsha256 = \"{}\"\n", sha("text_encoder.onnx")), "preview"),
    ];
    for (table, field) in cases {
        let manifest = dir.path().join("model-bad.toml");
        std::fs::write(&manifest, format!("{head}\n[preview]\n{table}")).unwrap();
        let e = match Pipeline::load(&manifest, Options::default()) {
            Err(e) => e.to_string(),
            Ok(mut p) => p.set_preview(Some(PreviewKind::Tiny)).err().expect(&table).to_string(),
        };
        assert!(e.contains(field), "{table}: {e}");
    }
}
