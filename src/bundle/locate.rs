//! Where to find a bundle when the user does not say.

use std::path::{Path, PathBuf};

/// The shipped model, relative to a search root.
pub const DEFAULT_BUNDLE: &str = "models/scenes";

/// Where the Debian package puts the shipped model (scripts/deb.sh).
pub const SYSTEM_MODELS: &str = "/usr/share/edgepaint/models";

/// `--model DIR` wins, then `$EDGEPAINT_MODEL`, then `models/scenes` next to
/// the binary (an unpacked dist bundle) or two to four folders up from it (a
/// cargo build in target/{release,debug}[/deps]), then
/// `/usr/share/edgepaint/models/scenes` (the Debian package), and finally
/// `models/scenes` in the working directory.
pub fn locate(explicit: Option<&Path>) -> PathBuf {
    let env = std::env::var_os("EDGEPAINT_MODEL").filter(|v| !v.is_empty()).map(PathBuf::from);
    let exe = std::env::current_exe().ok();
    locate_in(explicit, env, exe.as_deref(), Path::new(SYSTEM_MODELS))
}

/// [`locate`] with its inputs given (tests).
pub fn locate_in(explicit: Option<&Path>, env: Option<PathBuf>, exe: Option<&Path>, system: &Path) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = env {
        return p;
    }
    let beside_binary = exe.into_iter().flat_map(|e| e.ancestors().skip(1).take(4)).map(|d| d.join(DEFAULT_BUNDLE));
    let system = std::iter::once(system.join("scenes"));
    beside_binary
        .chain(system)
        .find(|c| c.join("model.toml").is_file())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BUNDLE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_at(dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("model.toml"), "").unwrap();
        dir.to_path_buf()
    }

    #[test]
    fn the_search_order() {
        let t = tempfile::tempdir().unwrap();
        let exe = t.path().join("opt/edgepaint-0.1/edgepaint");
        let system = t.path().join("usr/share/edgepaint/models");
        let mine = Path::new("/my/model");
        let env = Some(PathBuf::from("/env/model"));
        let find = |explicit, env| locate_in(explicit, env, Some(&exe), &system);
        // Nothing anywhere: the working directory's models/scenes.
        assert_eq!(find(None, None), PathBuf::from(DEFAULT_BUNDLE));
        let installed = bundle_at(&system.join("scenes"));
        assert_eq!(find(None, None), installed);
        let beside = bundle_at(&t.path().join("opt/edgepaint-0.1/models/scenes"));
        assert_eq!(find(None, None), beside);
        assert_eq!(find(None, env.clone()), PathBuf::from("/env/model"));
        assert_eq!(find(Some(mine), env), mine);
    }
}
