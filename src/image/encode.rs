//! PNG files with UTF-8 iTXt metadata, written atomically.

use super::RgbImage;
use std::io::Write;
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ImageError {
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
}

/// Encode as PNG with UTF-8 iTXt chunks, one per (keyword, text) pair.
pub fn encode_png(image: &RgbImage, metadata: &[(String, String)]) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, image.width as u32, image.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        for (key, text) in metadata {
            encoder.add_itxt_chunk(key.clone(), text.clone())?;
        }
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&image.pixels)?;
        writer.finish()?;
    }
    Ok(bytes)
}

/// Write the PNG atomically (temp file + rename), so a crash or a full disk
/// never leaves a half-written picture under the final name.
pub fn write_png(path: &Path, image: &RgbImage, metadata: &[(String, String)]) -> Result<Vec<u8>, ImageError> {
    let bytes = encode_png(image, metadata)
        .map_err(|e| ImageError::Write { path: path.display().to_string(), message: e.to_string() })?;
    write_atomically(path, &bytes)?;
    Ok(bytes)
}

/// Write `bytes` to `path` through a temp file and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let fail = |message: String| ImageError::Write { path: path.display().to_string(), message };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| fail("not a file name".into()))?;
    let tmp = dir.join(format!(".{}{TEMP_MARK}{}", name.to_string_lossy(), std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e.to_string()));
    }
    Ok(())
}

/// Temp files of [`write_png`] are `.NAME.tmpPID`.
const TEMP_MARK: &str = ".tmp";

/// Remove the temp files that writes interrupted by a crash or a power cut
/// left in `dir` (any `.NAME.tmpPID` but this process's own); returns how
/// many. Called when a folder is opened for writing pictures.
pub fn remove_interrupted_writes(dir: &Path) -> std::io::Result<usize> {
    let own = format!("{TEMP_MARK}{}", std::process::id());
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(pos) = name.rfind(TEMP_MARK) else { continue };
        let pid = &name[pos + TEMP_MARK.len()..];
        let ours = name.starts_with('.') && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
        if ours && !name.ends_with(&own) && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    if removed > 0 {
        log::warn!("{}: removed {removed} temp files of interrupted writes", dir.display());
    }
    Ok(removed)
}
