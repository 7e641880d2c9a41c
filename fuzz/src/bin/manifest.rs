//! Bundle manifests (`model.toml`): parsing and validation. The folder does
//! not exist, so validation stops at the first file it would hash; every
//! check on the manifest's own fields comes before that.

use std::path::Path;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let dir = Path::new("/nonexistent/edgepaint-fuzz");
        let _ = edgepaint::bundle::Bundle::from_bytes(dir, &dir.join("model.toml"), data);
    });
}
