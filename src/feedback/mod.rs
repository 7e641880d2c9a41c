//! The kiosk's feedback log: one JSON line per thumbs-up/down, appended and
//! fsynced before the kiosk says `rated`, in `DATA_DIR/feedback.jsonl`.
//! No personal data: the time, the kiosk, what was drawn and the vote.
//!
//! A line is written with one write() and the file is opened in append
//! mode, so a crash can only leave a torn last line; opening the log cuts
//! such a tail off (it was never acknowledged), and reading skips it.

pub mod export;

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const FILE_NAME: &str = "feedback.jsonl";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    Up,
    Down,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// UTC, RFC 3339, seconds.
    pub time: String,
    /// The board's `[provenance] kiosk_id` (default: the board name).
    pub kiosk: String,
    pub prompt: String,
    pub seed: u64,
    pub steps: usize,
    /// sha256 of the model bundle's model.toml.
    pub model_sha256: String,
    /// sha256 of the PNG file (as in the `done` reply).
    pub image_sha256: String,
    pub rating: Rating,
}

#[derive(Debug, Error)]
pub enum FeedbackError {
    #[error("feedback log {path}: {message}")]
    Io { path: String, message: String },
    #[error("feedback log {path}: line {line}: {message}")]
    Parse { path: String, line: usize, message: String },
}

pub struct FeedbackLog {
    path: PathBuf,
    file: File,
}

impl FeedbackLog {
    /// Open (creating the folder and file) `dir/feedback.jsonl` for appending.
    pub fn open(dir: &Path) -> Result<FeedbackLog, FeedbackError> {
        let path = dir.join(FILE_NAME);
        let io = |e: std::io::Error| FeedbackError::Io { path: path.display().to_string(), message: e.to_string() };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io)?;
        cut_torn_tail(&mut file).map_err(io)?;
        Ok(FeedbackLog { path, file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry and fsync: when this returns Ok the vote is on disk.
    pub fn append(&mut self, entry: &Entry) -> Result<(), FeedbackError> {
        let mut line = serde_json::to_string(entry).expect("entries serialize");
        line.push('\n');
        let io = |e: std::io::Error| FeedbackError::Io { path: self.path.display().to_string(), message: e.to_string() };
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

/// A torn last line (no newline) is from a write that never finished.
fn cut_torn_tail(file: &mut File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    let mut text = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut text)?;
    let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    log::warn!("feedback log: dropping an unfinished last line ({} bytes)", len as usize - keep);
    file.set_len(keep as u64)?;
    file.sync_data()
}

/// Every complete entry of the log at `path` (a torn last line is skipped);
/// any other line that does not parse is an error.
pub fn read_log(path: &Path) -> Result<Vec<Entry>, FeedbackError> {
    let (entries, bad) = read_log_skipping(path)?;
    match bad.into_iter().next() {
        Some(BadLine { line, message }) => Err(FeedbackError::Parse { path: path.display().to_string(), line, message }),
        None => Ok(entries),
    }
}

/// A line of the log that is not an entry (garbage from a failing card, an
/// edit by hand), 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub message: String,
}

/// Every complete entry of the log at `path`, and the lines that do not
/// parse (skipped, not fatal: one bad line must not cost the whole log).
pub fn read_log_skipping(path: &Path) -> Result<(Vec<Entry>, Vec<BadLine>), FeedbackError> {
    let text = std::fs::read(path)
        .map_err(|e| FeedbackError::Io { path: path.display().to_string(), message: e.to_string() })?;
    let complete = match text.iter().rposition(|&b| b == b'\n') {
        Some(p) => &text[..p + 1],
        None => &[][..],
    };
    let (mut entries, mut bad) = (Vec::new(), Vec::new());
    for (i, line) in complete.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(entry) => entries.push(entry),
            Err(e) => bad.push(BadLine { line: i + 1, message: e.to_string() }),
        }
    }
    Ok((entries, bad))
}

/// Now as RFC 3339 UTC seconds.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn entry(prompt: &str, image: &str, rating: Rating) -> Entry {
        Entry {
            time: now(),
            kiosk: "test".into(),
            prompt: prompt.into(),
            seed: 7,
            steps: 4,
            model_sha256: "ab".repeat(32),
            image_sha256: image.into(),
            rating,
        }
    }

    #[test]
    fn appends_reads_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = FeedbackLog::open(dir.path()).unwrap();
        log.append(&entry("a house", "aa", Rating::Up)).unwrap();
        log.append(&entry("a tree", "bb", Rating::Down)).unwrap();
        drop(log);
        // A crash in the middle of the third write.
        let path = dir.path().join(FILE_NAME);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"time":"2026-01-01T00:00:00Z","kiosk":"te"#).unwrap();
        drop(f);
        assert_eq!(read_log(&path).unwrap().len(), 2, "the torn line is skipped when reading");
        let mut log = FeedbackLog::open(dir.path()).unwrap();
        log.append(&entry("a boat", "cc", Rating::Up)).unwrap();
        let entries = read_log(&path).unwrap();
        assert_eq!(entries.iter().map(|e| e.prompt.as_str()).collect::<Vec<_>>(), ["a house", "a tree", "a boat"]);
        assert!(entries[0].time.ends_with('Z') && entries[0].time.len() == 20, "{}", entries[0].time);
        let line = std::fs::read_to_string(&path).unwrap().lines().next().unwrap().to_string();
        assert!(line.contains(r#""rating":"up""#), "{line}");
    }
}
