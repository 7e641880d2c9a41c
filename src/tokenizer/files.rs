//! The tokenizer's files: open_clip's gzipped vocabulary or a Hugging Face
//! `merges.txt`, read as the originals read them, and CLIP's byte-to-unicode
//! table.

use super::{TokenizerError, CLIP_NUM_MERGES};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// GPT-2/CLIP `bytes_to_unicode`: the printable char standing for each byte,
/// in the order of open_clip's dict (its first 256 vocabulary entries).
pub fn bytes_to_unicode() -> Vec<(u8, char)> {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xa1..=0xac)
        .chain(0xae..=0xff)
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    bs.into_iter()
        .zip(cs)
        .map(|(b, c)| (b as u8, char::from_u32(c).unwrap()))
        .collect()
}

pub(super) fn file_error(path: &Path, message: impl Into<String>) -> TokenizerError {
    TokenizerError::File { path: path.display().to_string(), message: message.into() }
}

/// Read a file, gunzipping it when it starts with the gzip magic bytes.
/// With `max_lines`, stop after that many lines: open_clip's `.gz` holds
/// 262k merges of which only the first 48894 are used, so this skips most
/// of the decompression.
pub(super) fn read_text(path: &Path, max_lines: Option<usize>) -> Result<String, TokenizerError> {
    let raw = std::fs::read(path).map_err(|e| file_error(path, e.to_string()))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let gz_err = |e: std::io::Error| file_error(path, format!("gzip: {e}"));
        let mut reader = BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(&raw[..]));
        let mut out = Vec::with_capacity(raw.len());
        match max_lines {
            Some(n) => {
                for _ in 0..n {
                    if reader.read_until(b'\n', &mut out).map_err(gz_err)? == 0 {
                        break;
                    }
                }
            }
            None => {
                reader.read_to_end(&mut out).map_err(gz_err)?;
            }
        }
        out
    } else {
        raw
    };
    String::from_utf8(bytes).map_err(|e| file_error(path, format!("not UTF-8: {e}")))
}

/// The merge pairs as open_clip reads them: lines split on `\n`, the first
/// line (the `#version` header) skipped, at most [`CLIP_NUM_MERGES`] taken.
/// Hugging Face's CLIPTokenizer reads `merges.txt` the same way.
pub(super) fn parse_merges<'a>(text: &'a str, path: &Path) -> Result<Vec<(&'a str, &'a str)>, TokenizerError> {
    let mut lines = text.split('\n');
    let header = lines.next().unwrap_or("");
    if !header.contains("#version") {
        log::warn!(
            "{}: first line {:?} is not a '#version' header; skipped as open_clip does",
            path.display(),
            header
        );
    }
    let mut merges = Vec::with_capacity(CLIP_NUM_MERGES);
    for (i, line) in lines.take(CLIP_NUM_MERGES).enumerate() {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) => merges.push((a, b)),
            // Blank lines only at the end (a trailing newline): stop there.
            (None, _, _) => {
                if text.split('\n').skip(i + 2).all(|l| l.trim().is_empty()) {
                    break;
                }
                return Err(file_error(path, format!("line {}: empty line among merges", i + 2)));
            }
            _ => return Err(file_error(path, format!("line {}: expected two symbols: {line:?}", i + 2))),
        }
    }
    if merges.is_empty() {
        return Err(file_error(path, "no merges"));
    }
    Ok(merges)
}
