//! `edgepaint verify FILE...`: is the watermark there, what does it say, and
//! what metadata does the file carry. Exit code 0: every file is marked;
//! 1: some file is not; 2: some file could not be read.

use crate::credentials::{self, Credentials};
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
    /// PEM CA certificates: Content Credentials (C2PA) signed by a
    /// certificate that chains to one of them are reported as trusted.
    #[arg(long, value_name = "CA.pem")]
    pub trust_anchors: Option<PathBuf>,
}

/// A file's Content Credentials (C2PA), as far as this build can tell.
enum C2pa {
    Absent,
    /// A manifest is there, but this build cannot read it.
    Unsupported,
    Read(Credentials),
    Error(String),
}

impl C2pa {
    fn of(bytes: &[u8], anchors: Option<&str>) -> C2pa {
        if !credentials::has_manifest(bytes) {
            return C2pa::Absent;
        }
        if !credentials::SUPPORTED {
            return C2pa::Unsupported;
        }
        match credentials::read_png(bytes, anchors) {
            Ok(Some(c)) => C2pa::Read(c),
            Ok(None) => C2pa::Absent,
            Err(e) => C2pa::Error(e.to_string()),
        }
    }

    fn json(&self, found: Option<&Detection>) -> serde_json::Value {
        match self {
            C2pa::Absent => json!(null),
            C2pa::Unsupported => json!({ "error": credentials::CredentialsError::Unsupported.to_string() }),
            C2pa::Error(e) => json!({ "error": e }),
            C2pa::Read(c) => json!({
                "state": c.state,
                "signed_by": c.signed_by,
                "algorithm": c.algorithm,
                "generator": c.generator,
                "actions": c.actions.iter().map(|(a, t)| json!({ "action": a, "digital_source_type": t })).collect::<Vec<_>>(),
                "soft_binding": c.soft_binding.as_ref().map(|(alg, value)| json!({
                    "alg": alg,
                    "value": value,
                    "matches_watermark": found.map(|d| binds(c, d)),
                })),
                "failures": c.failures,
            }),
        }
    }

    fn print(&self, found: Option<&Detection>) {
        match self {
            C2pa::Absent => {}
            C2pa::Unsupported => println!("  content credentials (C2PA): present, not checked: {}", credentials::CredentialsError::Unsupported),
            C2pa::Error(e) => println!("  content credentials (C2PA): {e}"),
            C2pa::Read(c) => {
                let by = c.signed_by.as_deref().unwrap_or("(no signer)");
                let alg = c.algorithm.as_deref().unwrap_or("?");
                println!("  content credentials (C2PA): {}, signed by {by} ({alg})", c.state);
                for (action, kind) in &c.actions {
                    let kind = kind.as_deref().map(|k| k.rsplit('/').next().unwrap_or(k)).unwrap_or("-");
                    println!("    {action} ({kind}) by {}", c.generator.as_deref().unwrap_or("?"));
                }
                if let Some((alg, value)) = &c.soft_binding {
                    let matches = match found.map(|d| binds(c, d)) {
                        Some(true) => "matches the watermark",
                        Some(false) => "does NOT match the watermark",
                        None => "no watermark to match",
                    };
                    println!("    soft binding {alg} {value} ({matches})");
                }
                if !c.failures.is_empty() {
                    println!("    failed checks: {}", c.failures.join(", "));
                }
            }
        }
    }
}

/// Whether the manifest's soft binding names the payload the watermark carries.
fn binds(c: &Credentials, found: &Detection) -> bool {
    c.soft_binding.as_ref().is_some_and(|(alg, value)| {
        alg == credentials::SOFT_BINDING_ALG && *value == hex::encode(found.payload.to_bytes())
    })
}

enum Outcome {
    Marked,
    Unmarked,
    Unreadable,
}

pub fn run(args: VerifyArgs) -> i32 {
    let key = Key::new(args.key.as_deref().unwrap_or(DEFAULT_KEY));
    let anchors = match args.trust_anchors.as_ref().map(std::fs::read_to_string).transpose() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {}: {e}", args.trust_anchors.as_ref().map(|p| p.display().to_string()).unwrap_or_default());
            return 2;
        }
    };
    let outcomes: Vec<Outcome> = args.files.iter().map(|f| check(f, &key, args.json, anchors.as_deref())).collect();
    if outcomes.iter().any(|o| matches!(o, Outcome::Unreadable)) {
        2
    } else if outcomes.iter().any(|o| matches!(o, Outcome::Unmarked)) {
        1
    } else {
        0
    }
}

fn check(path: &PathBuf, key: &Key, as_json: bool, anchors: Option<&str>) -> Outcome {
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
    let c2pa = C2pa::of(&bytes, anchors);
    if as_json {
        print_json(&name, &image, found.as_ref(), &metadata, &c2pa);
    } else {
        print_text(&name, found.as_ref(), &metadata);
        c2pa.print(found.as_ref());
    }
    if found.is_some() {
        Outcome::Marked
    } else {
        Outcome::Unmarked
    }
}

fn print_json(name: &str, image: &crate::image::RgbImage, found: Option<&Detection>, metadata: &[(String, String)], c2pa: &C2pa) {
    let meta: serde_json::Map<String, serde_json::Value> =
        metadata.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    let (scheme, transform, sync_z, soft_z) = match found.map(|d| &d.mark) {
        Some(Mark::Tiled(f)) => (
            json!("tiled"),
            json!({ "period_px": f.period_px, "rotation_degrees": f.rotation_degrees, "offset_px": f.offset_px }),
            json!(f.sync_z),
            json!(f.soft_z),
        ),
        Some(Mark::Legacy { .. }) => (json!("legacy"), json!(null), json!(null), json!(null)),
        None => (json!(null), json!(null), json!(null), json!(null)),
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
        "soft_z": soft_z,
        "false_positive_bound": false_positive_bound(),
        "metadata": meta,
        "c2pa": c2pa.json(found),
    });
    println!("{obj}");
}

fn print_text(name: &str, found: Option<&Detection>, metadata: &[(String, String)]) {
    match found {
        Some(d) => {
            let how = match &d.mark {
                Mark::Tiled(crate::watermark::tiled::Found { soft_z: Some(z), .. }) => {
                    format!("{} of 16 bytes read by the soft decoder at {z:.1}σ", d.corrected)
                }
                _ => format!("{} of 16 bytes corrected", d.corrected),
            };
            println!(
                "{name}: watermark present: edgepaint, model {}, device {} ({how})",
                d.payload.model_hex(),
                d.payload.device_id,
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
