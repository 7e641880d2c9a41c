//! The generated picture and its PNG file with text metadata.

use std::io::Write;
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    /// Row-major RGB bytes.
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// Convert a decoder output [1, 3, H, W] whose values span `range` to 8-bit RGB.
    pub fn from_chw(data: &[f32], height: usize, width: usize, range: [f32; 2]) -> RgbImage {
        let plane = height * width;
        assert_eq!(data.len(), 3 * plane, "decoder output is not 3 x {height} x {width}");
        let [lo, hi] = range;
        let mut pixels = vec![0u8; 3 * plane];
        for c in 0..3 {
            for i in 0..plane {
                let v = (data[c * plane + i] - lo) / (hi - lo);
                pixels[i * 3 + c] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
        RgbImage { width, height, pixels }
    }
}

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
    let fail = |message: String| ImageError::Write { path: path.display().to_string(), message };
    let bytes = encode_png(image, metadata).map_err(|e| fail(e.to_string()))?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| fail("not a file name".into()))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&bytes).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e.to_string()));
    }
    Ok(bytes)
}

/// Read back the iTXt/tEXt chunks of a PNG (for `info`, tests and verify).
pub fn read_png_text(bytes: &[u8]) -> Result<Vec<(String, String)>, png::DecodingError> {
    let decoder = png::Decoder::new(bytes);
    let reader = decoder.read_info()?;
    let info = reader.info();
    let mut out: Vec<(String, String)> =
        info.uncompressed_latin1_text.iter().map(|t| (t.keyword.clone(), t.text.clone())).collect();
    for t in &info.utf8_text {
        if let Ok(text) = t.get_text() {
            out.push((t.keyword.clone(), text));
        }
    }
    Ok(out)
}

/// Decode an 8-bit RGB PNG (tests and tools).
pub fn read_png(bytes: &[u8]) -> Result<RgbImage, png::DecodingError> {
    let mut reader = png::Decoder::new(bytes).read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf)?;
    buf.truncate(frame.buffer_size());
    Ok(RgbImage { width: frame.width as usize, height: frame.height as usize, pixels: buf })
}
