//! Read a picture file (PNG or JPEG, by its signature) as 8-bit RGB, for
//! `verify`: any colour type and bit depth, not only what edgepaint writes.

use crate::image_out::RgbImage;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReadError {
    #[error("not a PNG or JPEG file")]
    UnknownFormat,
    #[error("bad PNG: {0}")]
    Png(#[from] png::DecodingError),
    #[error("bad JPEG: {0}")]
    Jpeg(#[from] jpeg_decoder::Error),
    #[error("unsupported pixel format {0}")]
    Unsupported(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
}

pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(Format::Jpeg)
    } else {
        None
    }
}

pub fn read_image(bytes: &[u8]) -> Result<RgbImage, ReadError> {
    match sniff(bytes) {
        Some(Format::Png) => read_png_any(bytes),
        Some(Format::Jpeg) => read_jpeg(bytes),
        None => Err(ReadError::UnknownFormat),
    }
}

fn read_png_any(bytes: &[u8]) -> Result<RgbImage, ReadError> {
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf)?;
    buf.truncate(frame.buffer_size());
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => return Err(ReadError::Unsupported(format!("{other:?}"))),
    };
    Ok(to_rgb(&buf, channels, frame.width as usize, frame.height as usize))
}

fn read_jpeg(bytes: &[u8]) -> Result<RgbImage, ReadError> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let pixels = decoder.decode()?;
    let info = decoder.info().ok_or_else(|| ReadError::Unsupported("no JPEG header".into()))?;
    let channels = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        other => return Err(ReadError::Unsupported(format!("{other:?}"))),
    };
    Ok(to_rgb(&pixels, channels, info.width as usize, info.height as usize))
}

/// Gray or with alpha to RGB (alpha is dropped: the mark is in the colours).
fn to_rgb(buf: &[u8], channels: usize, width: usize, height: usize) -> RgbImage {
    let pixels = match channels {
        3 => buf.to_vec(),
        1 | 2 => buf.chunks_exact(channels).flat_map(|p| [p[0]; 3]).collect(),
        _ => buf.chunks_exact(channels).flat_map(|p| [p[0], p[1], p[2]]).collect(),
    };
    RgbImage { width, height, pixels }
}
