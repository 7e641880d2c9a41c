//! A finished picture on disk: the text metadata every generated PNG
//! carries and the one way to save it (watermark, then an atomic write,
//! then its sha256), shared by `generate` and the kiosk so both write the
//! same file.

use crate::bundle::Bundle;
use crate::credentials::Signer;
use crate::image::{encode_png, write_atomically, ImageError, RgbImage};
use crate::watermark::xmp::{self, XMP_KEYWORD};
use crate::watermark::Stamp;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Instant;

/// What [`save`] wrote.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The picture as written: watermarked.
    pub image: RgbImage,
    /// sha256 of the PNG file.
    pub sha256: String,
    /// Time spent embedding the watermark.
    pub watermark_ms: f64,
    /// Whether it carries signed Content Credentials (C2PA).
    pub signed: bool,
    /// Why signing failed (the picture was saved without them).
    pub sign_error: Option<String>,
}

/// Watermark `image` with `stamp` for the model whose model.toml has sha256
/// `model_sha256`, and write it to `path` as a PNG with `metadata`
/// (atomically: a temp file, then a rename), signed with Content
/// Credentials by `signer` when given. A picture that cannot be signed (a
/// certificate expired, a wrong clock) is saved unsigned with a warning:
/// the picture is never lost.
pub fn save(
    path: &Path,
    image: &RgbImage,
    stamp: &Stamp,
    model_sha256: &str,
    metadata: &[(String, String)],
    signer: Option<&Signer>,
) -> Result<Saved, ImageError> {
    // The watermark goes on after the pipeline, so the golden tests still
    // see the model's own picture; every saved picture carries it.
    let started = Instant::now();
    let marked = stamp.mark(image, model_sha256);
    let watermark_ms = started.elapsed().as_secs_f64() * 1000.0;
    let png = encode_png(&marked, metadata)
        .map_err(|e| ImageError::Write { path: path.display().to_string(), message: e.to_string() })?;
    // Signed last: the manifest hashes every other byte of the file.
    let (bytes, sign_error) = match signer.map(|s| s.sign_png(&png, &stamp.payload(model_sha256))) {
        None => (png, None),
        Some(Ok(signed)) => (signed, None),
        Some(Err(e)) => {
            log::warn!("{}: {e}; saved without Content Credentials", path.display());
            (png, Some(e.to_string()))
        }
    };
    write_atomically(path, &bytes)?;
    let signed = signer.is_some() && sign_error.is_none();
    Ok(Saved { image: marked, sha256: hex::encode(Sha256::digest(&bytes)), watermark_ms, signed, sign_error })
}

/// (keyword, text) pairs for the PNG's iTXt chunks: prompt, seed, steps,
/// model, model_sha256 (of the bundle's model.toml), software, an
/// AUTOMATIC1111-style `parameters` (which common image tools show) and the
/// XMP packet with the IPTC digital source type.
pub fn metadata(bundle: &Bundle, prompt: &str, seed: u64, steps: usize) -> Vec<(String, String)> {
    let m = &bundle.manifest;
    let software = format!("edgepaint {}", env!("CARGO_PKG_VERSION"));
    let [width, height] = m.image_size;
    // A1111 puts the prompt on the first line, then "Key: value" pairs;
    // its model hash is the first 10 hex digits of the sha256.
    let parameters = format!(
        "{}\nSteps: {steps}, Sampler: {}, CFG scale: {}, Seed: {seed}, Size: {width}x{height}, Model hash: {}, Model: {}, Version: {software}",
        prompt.replace('\n', " "),
        m.scheduler.kind.name(),
        m.guidance.scale,
        bundle.manifest_sha256.get(..10).unwrap_or(&bundle.manifest_sha256),
        m.name,
    );
    vec![
        ("prompt".to_string(), prompt.to_string()),
        ("seed".to_string(), seed.to_string()),
        ("steps".to_string(), steps.to_string()),
        ("model".to_string(), m.name.clone()),
        ("model_sha256".to_string(), bundle.manifest_sha256.clone()),
        ("software".to_string(), software.clone()),
        ("parameters".to_string(), parameters),
        (XMP_KEYWORD.to_string(), xmp::packet(prompt, &software)),
    ]
}
