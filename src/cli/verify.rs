//! `edgepaint verify FILE...`: is the watermark there, what does it say, and
//! what metadata does the file carry. Exit code 0: every file is marked;
//! 1: some file is not; 2: some file could not be read.

use crate::image::read_png_text;
use crate::image::{read_image, sniff, Format};
use crate::watermark::xmp::digital_source_type;
use crate::watermark::{detect, false_positive_bound, Detection, Key, Mark, DEFAULT_KEY};
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// PNG or JPEG files to check.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Detection key (default: the built-in key, or $EDGEPAINT_KEY).
    #[arg(long, env = "EDGEPAINT_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// One JSON object per file instead of text.
    #[arg(long)]
    pub json: bool,
}

enum Outcome {
    Marked,
    Unmarked,
    Unreadable,
}

pub fn run(args: VerifyArgs) -> i32 {
    let key = Key::new(args.key.as_deref().unwrap_or(DEFAULT_KEY));
    let outcomes: Vec<Outcome> = args.files.iter().map(|f| check(f, &key, args.json)).collect();
    if outcomes.iter().any(|o| matches!(o, Outcome::Unreadable)) {
        2
    } else if outcomes.iter().any(|o| matches!(o, Outcome::Unmarked)) {
        1
    } else {
        0
    }
}

fn check(path: &PathBuf, key: &Key, as_json: bool) -> Outcome {
    let name = path.display().to_string();
    let read = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| read_image(&bytes).map(|img| (bytes, img)).map_err(|e| e.to_string()));
    let (bytes, image) = match read {
        Ok(r) => r,
        Err(e) => {
            if as_json {
                println!("{}", json!({ "file": name, "error": e }));
            } else {
                eprintln!("error: {name}: {e}");
            }
            return Outcome::Unreadable;
        }
    };
    let metadata = match sniff(&bytes) {
        Some(Format::Png) => read_png_text(&bytes).unwrap_or_default(),
        _ => Vec::new(),
    };
    let found = detect(&image, key);
    if as_json {
        print_json(&name, &image, found.as_ref(), &metadata);
    } else {
        print_text(&name, found.as_ref(), &metadata);
    }
    if found.is_some() {
        Outcome::Marked
    } else {
        Outcome::Unmarked
    }
}

fn print_json(name: &str, image: &crate::image::RgbImage, found: Option<&Detection>, metadata: &[(String, String)]) {
    let meta: serde_json::Map<String, serde_json::Value> =
        metadata.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    let (scheme, transform, sync_z) = match found.map(|d| &d.mark) {
        Some(Mark::Tiled(f)) => (
            json!("tiled"),
            json!({ "period_px": f.period_px, "rotation_degrees": f.rotation_degrees, "offset_px": f.offset_px }),
            json!(f.sync_z),
        ),
        Some(Mark::Legacy { .. }) => (json!("legacy"), json!(null), json!(null)),
        None => (json!(null), json!(null), json!(null)),
    };
    let obj = json!({
        "file": name,
        "width": image.width,
        "height": image.height,
        "watermark": found.is_some(),
        "payload": found.map(|d| json!({
            "tag": "edgepaint",
            "version": crate::watermark::payload::VERSION,
            "model_id": d.payload.model_hex(),
            "device_id": d.payload.device_id,
        })),
        "corrected_bytes": found.map(|d| d.corrected),
        "scheme": scheme,
        "transform": transform,
        "sync_z": sync_z,
        "false_positive_bound": false_positive_bound(),
        "metadata": meta,
    });
    println!("{obj}");
}

fn print_text(name: &str, found: Option<&Detection>, metadata: &[(String, String)]) {
    match found {
        Some(d) => {
            println!(
                "{name}: watermark present: edgepaint, model {}, device {} ({} of 16 bytes corrected)",
                d.payload.model_hex(),
                d.payload.device_id,
                d.corrected
            );
            if let Mark::Tiled(f) = &d.mark {
                println!(
                    "  found at: tile period {:.1} px, turned {:.1}°, corner {:.1},{:.1} px into the tile grid (sync {:.1}σ)",
                    f.period_px, f.rotation_degrees, f.offset_px[0], f.offset_px[1], f.sync_z
                );
            }
        }
        None => println!("{name}: no edgepaint watermark found"),
    }
    for (k, v) in metadata {
        if k == crate::watermark::xmp::XMP_KEYWORD {
            let kind = digital_source_type(v).unwrap_or("(none)");
            println!("  xmp digital source type: {kind}");
        } else {
            let lines: Vec<String> = v.split('\n').map(super::shown).collect();
            println!("  {}: {}", super::shown(k), lines.join("\n    "));
        }
    }
}
