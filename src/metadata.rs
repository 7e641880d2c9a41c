//! The text metadata every generated PNG carries (shared by `generate` and
//! the kiosk, so both write the same keys).

use crate::bundle::Bundle;

/// (keyword, text) pairs for the PNG's iTXt chunks: prompt, seed, steps,
/// model, model_sha256 (of the bundle's model.toml) and software.
pub fn picture_metadata(bundle: &Bundle, prompt: &str, seed: u64, steps: usize) -> Vec<(String, String)> {
    vec![
        ("prompt".to_string(), prompt.to_string()),
        ("seed".to_string(), seed.to_string()),
        ("steps".to_string(), steps.to_string()),
        ("model".to_string(), bundle.manifest.name.clone()),
        ("model_sha256".to_string(), bundle.manifest_sha256.clone()),
        ("software".to_string(), format!("edgepaint {}", env!("CARGO_PKG_VERSION"))),
    ]
}
