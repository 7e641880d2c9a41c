//! Provenance end to end: the watermark on pictures from the shipped model
//! after compression, resizes, crops, rotation and tone changes; `verify` on PNG and JPEG with its exit
//! codes; the metadata read back with the png crate.

mod common;
use common::fixture;
use edgepaint::image::{encode_png, read_png, read_png_text, RgbImage};
use edgepaint::pipeline::{Options, Pipeline, Request};
use edgepaint::image::read_image;
use edgepaint::watermark::attacks::{crop, rotate, tone};
use edgepaint::watermark::{detect, Key, Payload, Stamp};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

fn shipped_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/scenes")
}

/// A handful of pictures from the shipped model (128×128, 4 steps) and the
/// model.toml sha256.
fn pictures() -> (Vec<RgbImage>, String) {
    let mut p = Pipeline::load(&shipped_model(), Options::default()).unwrap();
    let prompts = [
        "a red house on a snowy field at night",
        "a boat on the sea at sunset",
        "three green trees on a hill under a blue sky",
        "a yellow tree in the desert with mountains, day",
        "a full moon over a lake",
    ];
    let images = prompts
        .iter()
        .enumerate()
        .map(|(i, prompt)| {
            let request = Request { steps: Some(4), ..Request::new(*prompt, 100 + i as u64) };
            p.generate(&request, &mut |_| std::ops::ControlFlow::Continue(())).unwrap().image
        })
        .collect();
    (images, p.bundle().manifest_sha256.clone())
}

fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    enc.encode(&image.pixels, image.width as u16, image.height as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

/// Bilinear resize with box prefiltering by whole factors, as a browser or
/// a photo viewer would do it (independent of edgepaint's resampler).
fn resize(image: &RgbImage, w: usize, h: usize) -> RgbImage {
    let mut pixels = Vec::with_capacity(w * h * 3);
    let (sx, sy) = (image.width as f32 / w as f32, image.height as f32 / h as f32);
    for y in 0..h {
        for x in 0..w {
            // Average the source pixels the target pixel covers.
            let (x0, x1) = ((x as f32 * sx) as usize, (((x + 1) as f32 * sx).ceil() as usize).min(image.width));
            let (y0, y1) = ((y as f32 * sy) as usize, (((y + 1) as f32 * sy).ceil() as usize).min(image.height));
            for c in 0..3 {
                let mut sum = 0.0;
                for yy in y0..y1 {
                    for xx in x0..x1 {
                        sum += image.pixels[(yy * image.width + xx) * 3 + c] as f32;
                    }
                }
                pixels.push((sum / ((x1 - x0) * (y1 - y0)) as f32).round() as u8);
            }
        }
    }
    RgbImage { width: w, height: h, pixels }
}

#[test]
fn watermark_survives_compression_resizes_crops_rotation_and_tone_changes_and_is_keyed() {
    let (images, sha) = pictures();
    let stamp = Stamp::new(Some("test-key"), 4711);
    let want = Payload::new(&sha, 4711);
    let mut dark_misses = Vec::new();
    for (i, raw) in images.iter().enumerate() {
        assert!(detect(raw, &stamp.key).is_none(), "picture {i}: unmarked but detected");
        let marked = stamp.mark(raw, &sha);
        let mse: f64 = raw.pixels.iter().zip(&marked.pixels).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>()
            / raw.pixels.len() as f64;
        assert!(10.0 * (255.0f64 * 255.0 / mse).log10() >= 40.0, "picture {i}: PSNR below 40 dB");
        let png = read_png(&encode_png(&marked, &[]).unwrap()).unwrap();
        let cases = [
            ("png", png),
            ("jpeg 90", read_image(&jpeg(&marked, 90)).unwrap()),
            ("jpeg 75", read_image(&jpeg(&marked, 75)).unwrap()),
            ("resize 0.75", resize(&marked, 96, 96)),
            ("resize 0.5", resize(&marked, 64, 64)),
            ("upscale 2", resize(&marked, 256, 256)),
            // Issue 20's attacks, one of each kind.
            ("crop 20 % off the left", crop(&marked, 26, 0, 102, 128)),
            ("crop 20 % off the bottom", crop(&marked, 0, 0, 128, 102)),
            ("crop to half the area, offset", crop(&marked, 11 + 5 * i, 30 - 4 * i, 90, 91)),
            ("brightness +30 %", tone(&marked, |v| v * 1.3)),
            ("contrast -30 %", tone(&marked, |v| 128.0 + (v - 128.0) * 0.7)),
            ("gamma 0.7", tone(&marked, |v| 255.0 * (v / 255.0).powf(0.7))),
            ("brightness +30 %, JPEG 75", read_image(&jpeg(&tone(&marked, |v| v * 1.3), 75)).unwrap()),
            (DARK_JPEG, {
                read_image(&jpeg(&tone(&marked, |v| 255.0 * (v * 0.7 / 255.0).powf(1.4)), 75)).unwrap()
            }),
            ("rotate -2°", rotate(&marked, -2.0)),
            ("screenshot: 1.37x, JPEG 85, crop 7 %", {
                let shot = read_image(&jpeg(&resize(&marked, 175, 175), 85)).unwrap();
                crop(&shot, 6, 6, 163, 163)
            }),
        ];
        for (name, attacked) in cases {
            let found = detect(&attacked, &stamp.key).map(|d| d.payload);
            if name == DARK_JPEG && found.is_none() {
                dark_misses.push(i);
                continue;
            }
            assert_eq!(found, Some(want), "picture {i}, {name}");
        }
        assert!(detect(&marked, &Key::or_default(None)).is_none(), "picture {i}: found with the default key");
    }
    assert!(dark_misses.len() <= 1, "pictures {dark_misses:?}, {DARK_JPEG}: more than one of five missed");
}

/// The one attack whose goal is below 99 % (issue 20: ≥ 95 %): a dark
/// picture darkened again and compressed. `scripts/bench/watermark_bench.py`
/// measures it on 200 pictures of the shipped model (97.0 % with the model of
/// 2026-12-03 evening, 99.0 % with the one before); five pictures cannot show
/// a 95 % rate, so one miss among them is allowed (the shipped model's
/// "a full moon over a lake" is one of the 3 %), two are not.
const DARK_JPEG: &str = "brightness -30 %, gamma 1.4, JPEG 75";

fn edgepaint<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) -> Output {
    common::edgepaint_command().args(args).env_remove("EDGEPAINT_MODEL").env_remove("EDGEPAINT_KEY").output().unwrap()
}

fn generate(out: &Path, extra: &[&str]) {
    let mut args = vec!["generate", "a red house on a snowy field at night", "--seed", "3", "--output", out.to_str().unwrap()];
    args.extend(extra);
    let o = edgepaint(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn verify_reads_png_and_jpeg_and_sets_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("a.png");
    generate(&png, &["--device-id", "4711"]);
    let bytes = std::fs::read(&png).unwrap();
    let jpg = dir.path().join("a.jpg");
    std::fs::write(&jpg, jpeg(&read_png(&bytes).unwrap(), 75)).unwrap();
    let o = edgepaint([png.as_os_str(), jpg.as_os_str()].iter().fold(vec![OsStr::new("verify")], |mut v, p| {
        v.push(p);
        v
    }));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let model = edgepaint::bundle::sha256_file(&shipped_model().join("model.toml")).unwrap();
    let line = format!("watermark present: edgepaint, model {}, device 4711", &model[..4]);
    assert_eq!(text.matches(&line).count(), 2, "{text}");
    assert!(text.contains("  prompt: a red house on a snowy field at night"), "{text}");
    assert!(text.contains("  xmp digital source type: trainedAlgorithmicMedia"), "{text}");

    // An unmarked picture: exit 1; an unreadable file: exit 2.
    let plain = dir.path().join("plain.png");
    let gray = RgbImage { width: 128, height: 128, pixels: (0..128 * 128 * 3).map(|i| (i / 3 % 128 + i / 384) as u8).collect() };
    std::fs::write(&plain, encode_png(&gray, &[]).unwrap()).unwrap();
    let o = edgepaint([OsStr::new("verify"), png.as_os_str(), plain.as_os_str()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("plain.png: no edgepaint watermark found"));
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "hello").unwrap();
    let o = edgepaint([OsStr::new("verify"), plain.as_os_str(), junk.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("notes.txt: not a PNG or JPEG file"));

    // --json: one object per file; a different key finds nothing.
    let o = edgepaint([OsStr::new("verify"), OsStr::new("--json"), OsStr::new("--key"), OsStr::new("other"), png.as_os_str()]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["watermark"], false);
    assert_eq!(v["metadata"]["seed"], "3");
    let o = edgepaint([OsStr::new("verify"), OsStr::new("--json"), jpg.as_os_str()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["payload"]["device_id"], 4711);
    assert_eq!(v["payload"]["model_id"], &model[..4]);
}

#[test]
fn png_metadata_reads_back_with_the_png_crate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.png");
    let o = edgepaint([
        "generate",
        "a boat & a \"moon\" <night>",
        "--seed",
        "9",
        "--steps",
        "2",
        "--model",
        fixture("bundles/tiny-flow").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&out).unwrap();
    // The png crate's own reader: every chunk is iTXt (UTF-8).
    let reader = png::Decoder::new(&bytes[..]).read_info().unwrap();
    let info = reader.info();
    assert!(info.uncompressed_latin1_text.is_empty() && info.compressed_latin1_text.is_empty());
    let text: Vec<(String, String)> = info.utf8_text.iter().map(|t| (t.keyword.clone(), t.get_text().unwrap())).collect();
    assert_eq!(text, read_png_text(&bytes).unwrap());
    let get = |k: &str| text.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {k}"));
    let sha = edgepaint::bundle::sha256_file(&fixture("bundles/tiny-flow/model.toml")).unwrap();
    assert_eq!(get("prompt"), "a boat & a \"moon\" <night>");
    assert_eq!(get("seed"), "9");
    assert_eq!(get("steps"), "2");
    assert_eq!(get("model"), "tiny-flow");
    assert_eq!(get("model_sha256"), sha);
    assert_eq!(get("software"), concat!("edgepaint ", env!("CARGO_PKG_VERSION")));
    assert_eq!(
        get("parameters"),
        format!(
            "a boat & a \"moon\" <night>\nSteps: 2, Sampler: flow-euler, CFG scale: 1, Seed: 9, Size: 64x64, Model hash: {}, Model: tiny-flow, Version: edgepaint {}",
            &sha[..10],
            env!("CARGO_PKG_VERSION")
        )
    );
    let xmp = get("XML:com.adobe.xmp");
    assert!(xmp.contains(r#"Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia""#), "{xmp}");
    assert!(xmp.contains("a boat &amp; a &quot;moon&quot; &lt;night&gt;"), "{xmp}");
}

#[test]
fn feedback_export_writes_rows_and_pairs() {
    use edgepaint::feedback::{Entry, FeedbackLog, Rating};
    let dir = tempfile::tempdir().unwrap();
    let mut log = FeedbackLog::open(dir.path()).unwrap();
    let entry = |prompt: &str, image: &str, seed: u64, rating| Entry {
        time: "2026-11-26T16:00:00Z".into(),
        kiosk: "hall".into(),
        prompt: prompt.into(),
        seed,
        steps: 4,
        model_sha256: "m1".into(),
        image_sha256: image.into(),
        rating,
    };
    log.append(&entry("a red, \"tiny\" house", "aa", 1, Rating::Up)).unwrap();
    log.append(&entry("a red, \"tiny\" house", "bb", 2, Rating::Down)).unwrap();
    log.append(&entry("a tree", "cc", 3, Rating::Up)).unwrap();
    let data = dir.path().to_str().unwrap();
    let o = edgepaint(["feedback", "export", "--data", data]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "prompt,seed,steps,model_sha256,image_sha256,ups,downs,rating\n\
         \"a red, \"\"tiny\"\" house\",1,4,m1,aa,1,0,up\n\
         \"a red, \"\"tiny\"\" house\",2,4,m1,bb,0,1,down\n\
         a tree,3,4,m1,cc,1,0,up\n"
    );
    let o = edgepaint(["feedback", "export", "--data", data, "--pairs", "--format", "jsonl"]);
    let pairs: Vec<serde_json::Value> = String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(pairs.len(), 1);
    assert_eq!((pairs[0]["chosen_seed"].as_u64(), pairs[0]["rejected_seed"].as_u64()), (Some(1), Some(2)));
    let o = edgepaint(["feedback", "export", "--data", dir.path().join("nope").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("error: no feedback log at "));
}

#[test]
fn feedback_export_skips_a_garbage_line_and_says_which() {
    use edgepaint::feedback::{Entry, FeedbackLog, Rating, FILE_NAME};
    let dir = tempfile::tempdir().unwrap();
    let mut log = FeedbackLog::open(dir.path()).unwrap();
    let entry = |image: &str| Entry {
        time: "2026-11-26T16:00:00Z".into(),
        kiosk: "hall".into(),
        prompt: "a tree".into(),
        seed: 1,
        steps: 4,
        model_sha256: "m1".into(),
        image_sha256: image.into(),
        rating: Rating::Up,
    };
    log.append(&entry("aa")).unwrap();
    drop(log);
    // A failing card's garbage (not even UTF-8) between two good entries.
    let path = dir.path().join(FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(b"\x00\xff{garbage\n");
    std::fs::write(&path, bytes).unwrap();
    FeedbackLog::open(dir.path()).unwrap().append(&entry("bb")).unwrap();
    let o = edgepaint(["feedback", "export", "--data", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("line 2 is not a feedback entry") && stderr.contains("1 of 3 lines skipped"), "{stderr}");
    let rows = String::from_utf8(o.stdout).unwrap();
    assert!(rows.contains(",aa,") && rows.contains(",bb,"), "{rows}");
}
