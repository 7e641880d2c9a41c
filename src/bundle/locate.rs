//! Where to find a bundle when the user does not say.

use std::path::{Path, PathBuf};

/// The shipped model, relative to a search root.
pub const DEFAULT_BUNDLE: &str = "models/scenes";

/// `--model DIR` wins, then `EDGEPAINT_MODEL`, then `models/scenes` next to the
/// binary (installed layout), two or three folders up from it (a cargo build
/// in target/{release,debug}[/deps]), and finally in the current directory.
pub fn locate(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("EDGEPAINT_MODEL").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(4) {
            let candidate = dir.join(DEFAULT_BUNDLE);
            if candidate.join("model.toml").is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from(DEFAULT_BUNDLE)
}
