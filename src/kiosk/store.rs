//! Where finished pictures go: `DIR/NNNNNN-SEED.png`, numbered on from the
//! highest number already in the folder, so a restarted kiosk never
//! overwrites what an earlier run made.

use std::path::{Path, PathBuf};

pub struct ImageStore {
    dir: PathBuf,
    next_id: u64,
}

impl ImageStore {
    /// Create the folder if needed, remove what interrupted writes left and
    /// find the next free number.
    pub fn open(dir: &Path) -> std::io::Result<ImageStore> {
        std::fs::create_dir_all(dir)?;
        crate::image::remove_interrupted_writes(dir)?;
        let mut highest = 0;
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_suffix(".png").and_then(|n| n.split('-').next()).and_then(|n| n.parse().ok())
            {
                highest = highest.max(id);
            }
        }
        Ok(ImageStore { dir: dir.to_path_buf(), next_id: highest + 1 })
    }

    /// A new id and the path its picture will have.
    pub fn allocate(&mut self, seed: u64) -> (u64, PathBuf) {
        let id = self.next_id;
        self.next_id += 1;
        (id, self.dir.join(format!("{id:06}-{seed}.png")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
