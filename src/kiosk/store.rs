//! Where finished pictures go: `DIR/NNNNNN-SEED.png`, numbered on from the
//! highest number already in the folder, so a restarted kiosk never
//! overwrites what an earlier run made.

use std::path::{Path, PathBuf};

pub struct ImageStore {
    dir: PathBuf,
    next_id: u64,
    keep: Option<usize>,
    keep_mb: Option<u64>,
}

impl ImageStore {
    /// Create the folder if needed, remove what interrupted writes left and
    /// find the next free number.
    pub fn open(dir: &Path) -> std::io::Result<ImageStore> {
        std::fs::create_dir_all(dir)?;
        crate::image::remove_interrupted_writes(dir)?;
        let highest = pictures(dir)?.iter().map(|(id, _)| *id).max().unwrap_or(0);
        Ok(ImageStore { dir: dir.to_path_buf(), next_id: highest + 1, keep: None, keep_mb: None })
    }

    /// Free space on the folder's file system, in MB (None: unknown).
    pub fn free_mb(&self) -> Option<u64> {
        let st = nix::sys::statvfs::statvfs(&self.dir).ok()?;
        Some(st.blocks_available() as u64 * st.fragment_size() as u64 / 1_000_000)
    }

    /// Keep at most `keep` pictures and `keep_mb` MB of them (see [`ImageStore::prune`]).
    pub fn keeping(mut self, keep: Option<usize>, keep_mb: Option<u64>) -> ImageStore {
        self.keep = keep;
        self.keep_mb = keep_mb;
        self
    }

    /// Remove the oldest pictures (by number) while there are more than
    /// `keep` or they take more than `keep_mb` MB; the newest always stays.
    /// Returns what was removed.
    pub fn prune(&self) -> std::io::Result<Vec<PathBuf>> {
        if self.keep.is_none() && self.keep_mb.is_none() {
            return Ok(Vec::new());
        }
        let mut pictures = pictures(&self.dir)?;
        pictures.sort();
        // Sizes only with a size cap: `keep` alone needs no stat of every picture after each new one.
        let size = |p: &PathBuf| if self.keep_mb.is_some() { std::fs::metadata(p).map_or(0, |m| m.len()) } else { 0 };
        let sizes: Vec<u64> = pictures.iter().map(|(_, p)| size(p)).collect();
        let (mut count, mut bytes) = (pictures.len(), sizes.iter().sum::<u64>());
        let max_bytes = self.keep_mb.map_or(u64::MAX, |mb| mb.saturating_mul(1_000_000));
        let mut removed = Vec::new();
        for ((_, path), size) in pictures.into_iter().zip(sizes) {
            if count <= 1 || (count <= self.keep.unwrap_or(usize::MAX) && bytes <= max_bytes) {
                break;
            }
            std::fs::remove_file(&path)?;
            log::info!("removed {} ([output] keep = {:?}, keep_mb = {:?})", path.display(), self.keep, self.keep_mb);
            (count, bytes) = (count - 1, bytes - size);
            removed.push(path);
        }
        Ok(removed)
    }

    /// A new id and the path its picture will have.
    pub fn allocate(&mut self, seed: u64) -> (u64, PathBuf) {
        let id = self.next_id;
        self.next_id += 1;
        (id, self.dir.join(format!("{id:06}-{seed}.png")))
    }
}

/// The `NNNNNN-SEED.png` pictures in `dir`, with their numbers.
fn pictures(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(id) = name.strip_suffix(".png").and_then(|n| n.split('-').next()).and_then(|n| n.parse().ok()) {
            found.push((id, path));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_newest_pictures() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["000001-5.png", "000002-9.png", "000010-1.png", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let store = ImageStore::open(dir.path()).unwrap().keeping(Some(2), None);
        let removed = store.prune().unwrap();
        assert_eq!(removed, [dir.path().join("000001-5.png")]);
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, ["000002-9.png", "000010-1.png", "notes.txt"]);
        assert!(ImageStore::open(dir.path()).unwrap().prune().unwrap().is_empty(), "no limit: nothing removed");
    }

    #[test]
    fn prune_keeps_the_newest_within_a_size_cap() {
        let dir = tempfile::tempdir().unwrap();
        for (name, kb) in [("000001-5.png", 600), ("000002-9.png", 300), ("000003-1.png", 500), ("000004-2.png", 1500)] {
            std::fs::write(dir.path().join(name), vec![0u8; kb * 1000]).unwrap();
        }
        let store = ImageStore::open(dir.path()).unwrap().keeping(None, Some(1));
        let removed = store.prune().unwrap();
        // 2.9 MB over a 1 MB cap: the three oldest go; the newest stays though it alone is over.
        assert_eq!(removed.len(), 3);
        assert!(dir.path().join("000004-2.png").is_file());
        let store = ImageStore::open(dir.path()).unwrap().keeping(Some(5), Some(2));
        assert!(store.prune().unwrap().is_empty());
    }

    #[test]
    fn open_removes_temp_files_of_interrupted_writes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".000003-7.png.tmp4000001"), b"torn").unwrap();
        std::fs::write(dir.path().join("000002-5.png"), b"a picture").unwrap();
        std::fs::write(dir.path().join("notes.tmp"), b"not ours").unwrap();
        let mut store = ImageStore::open(dir.path()).unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, ["000002-5.png", "notes.tmp"]);
        assert_eq!(store.allocate(9).0, 3);
    }

    #[test]
    fn numbers_continue_after_existing_pictures() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("000041-7.png"), b"").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"").unwrap();
        let mut store = ImageStore::open(dir.path()).unwrap();
        let (id, path) = store.allocate(9);
        assert_eq!(id, 42);
        assert_eq!(path, dir.path().join("000042-9.png"));
        assert_eq!(store.allocate(1).0, 43);
    }
}
