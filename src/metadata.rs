//! The text metadata every generated PNG carries (shared by `generate` and
//! the kiosk, so both write the same keys).

use crate::bundle::Bundle;
use crate::provenance::xmp::{self, XMP_KEYWORD};

/// (keyword, text) pairs for the PNG's iTXt chunks: prompt, seed, steps,
/// model, model_sha256 (of the bundle's model.toml), software, an
/// AUTOMATIC1111-style `parameters` (which common image tools show) and the
/// XMP packet with the IPTC digital source type.
pub fn picture_metadata(bundle: &Bundle, prompt: &str, seed: u64, steps: usize) -> Vec<(String, String)> {
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
