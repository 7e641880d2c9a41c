//! Reading pictures back: PNG or JPEG (by signature) as 8-bit RGB, any
//! colour type and bit depth, not only what edgepaint writes (`verify` reads
//! whatever users bring). The size in the header is checked against
//! [`MAX_SIDE`] and [`MAX_PIXELS`] before the pixels are allocated, so a
//! few bytes declaring 100000 × 100000 are refused, not a 30 GB allocation.

use super::RgbImage;
use thiserror::Error;

/// Longest side accepted when reading a picture.
pub const MAX_SIDE: usize = 16_384;
/// Most pixels accepted when reading a picture (48 MP: a phone photo fits).
pub const MAX_PIXELS: usize = 48_000_000;
/// Most pixels a JPEG file may declare per byte of it. Huffman coding needs
/// at least one bit per 8 x 8 block and component (256 pixels a byte for a
/// flat grey baseline picture, 512 for a progressive one's DC scan);
/// jpeg-decoder makes up a truncated file's missing rest, so without this a
/// 280-byte file declaring 46 MP was decoded whole (found by fuzzing).
const MAX_JPEG_PIXELS_PER_BYTE: usize = 1024;

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
    #[error("the picture is {width} x {height}; at most {MAX_SIDE} per side and {MAX_PIXELS} pixels are read")]
    TooLarge { width: usize, height: usize },
    #[error("bad PNG: a palette of {0} bytes (it holds whole RGB entries, at most 256)")]
    Palette(usize),
    #[error("bad JPEG: {bytes} bytes cannot hold the {width} x {height} pixels it declares (cut short?)")]
    Truncated { width: usize, height: usize, bytes: usize },
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

/// Any PNG or JPEG as 8-bit RGB.
pub fn read_image(bytes: &[u8]) -> Result<RgbImage, ReadError> {
    match sniff(bytes) {
        Some(Format::Png) => read_png_any(bytes),
        Some(Format::Jpeg) => read_jpeg(bytes),
        None => Err(ReadError::UnknownFormat),
    }
}

/// Decode an 8-bit RGB PNG as edgepaint writes it (tests and tools).
pub fn read_png(bytes: &[u8]) -> Result<RgbImage, ReadError> {
    let mut reader = png::Decoder::new(bytes).read_info()?;
    let (w, h) = reader.info().size();
    check_size(w as usize, h as usize)?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf)?;
    buf.truncate(frame.buffer_size());
    Ok(RgbImage { width: frame.width as usize, height: frame.height as usize, pixels: buf })
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

fn check_size(width: usize, height: usize) -> Result<(), ReadError> {
    if width > MAX_SIDE || height > MAX_SIDE || width * height > MAX_PIXELS {
        return Err(ReadError::TooLarge { width, height });
    }
    Ok(())
}

/// png 0.17 expands a palette it never checked: a PLTE chunk that is not
/// whole RGB triples, or holds more than 256, panics inside the decoder
/// (found by fuzzing; upstream image-rs/image-png#694 and #671).
fn check_palette(info: &png::Info) -> Result<(), ReadError> {
    match info.palette.as_deref() {
        Some(p) if p.len() % 3 != 0 || p.len() > 256 * 3 => Err(ReadError::Palette(p.len())),
        _ => Ok(()),
    }
}

fn read_png_any(bytes: &[u8]) -> Result<RgbImage, ReadError> {
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info()?;
    let (w, h) = reader.info().size();
    check_size(w as usize, h as usize)?;
    check_palette(reader.info())?;
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
    decoder.read_info()?;
    let info = decoder.info().ok_or_else(|| ReadError::Unsupported("no JPEG header".into()))?;
    let (width, height) = (info.width as usize, info.height as usize);
    check_size(width, height)?;
    if width * height > bytes.len() * MAX_JPEG_PIXELS_PER_BYTE {
        return Err(ReadError::Truncated { width, height, bytes: bytes.len() });
    }
    let pixels = decoder.decode()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        let mut body = kind.to_vec();
        body.extend(data);
        let mut crc = flate2::Crc::new();
        crc.update(&body);
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(&body);
        out.extend(crc.sum().to_be_bytes());
    }

    /// A tiny PNG whose header declares `w` × `h` (a decompression bomb's shape).
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        chunk(&mut out, b"IEND", &[]);
        out
    }

    #[test]
    fn a_huge_declared_png_is_refused_before_decoding() {
        let bomb = png_header(100_000, 100_000);
        assert!(bomb.len() < 80);
        let e = read_image(&bomb).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { width: 100_000, height: 100_000 }), "{e}");
        assert!(matches!(read_png(&bomb), Err(ReadError::TooLarge { .. })));
    }

    /// A 1 x 1 indexed PNG with a PLTE chunk of `palette_len` bytes.
    fn png_palette(palette_len: usize) -> Vec<u8> {
        let mut ihdr = 1u32.to_be_bytes().to_vec();
        ihdr.extend(1u32.to_be_bytes());
        ihdr.extend([8, 3, 0, 0, 0]); // 8-bit indexed
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"PLTE", &vec![7; palette_len]);
        // zlib of the one row: filter 0, index 0.
        chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]);
        chunk(&mut out, b"IEND", &[]);
        out
    }

    #[test]
    fn a_malformed_palette_is_an_error_not_a_panic() {
        // Found by fuzzing: png 0.17 panicked expanding these.
        for len in [4, 5, 258 * 3] {
            let e = read_image(&png_palette(len)).unwrap_err();
            assert!(matches!(e, ReadError::Palette(l) if l == len), "{len}: {e}");
        }
        let ok = read_image(&png_palette(3)).unwrap();
        assert_eq!(ok.pixels, [7, 7, 7]);
    }

    /// A flat grey JPEG, coded as tightly as jpeg-encoder can.
    fn flat_jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 1);
        enc.set_optimized_huffman_tables(true);
        let grey = vec![128; width as usize * height as usize];
        enc.encode(&grey, width, height, jpeg_encoder::ColorType::Luma).unwrap();
        out
    }

    #[test]
    fn a_jpeg_declaring_more_pixels_than_its_bytes_hold_is_refused() {
        // As the fuzzer's 280 bytes declaring 4416 x 10462 (0.8 s and 368 MB
        // in a release build): refused before decoding.
        let mut bomb = flat_jpeg(16, 16);
        let sof = bomb.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
        bomb[sof + 5..sof + 9].copy_from_slice(&[0x28, 0xde, 0x11, 0x40]); // height 10462, width 4416
        let e = read_image(&bomb).unwrap_err();
        assert!(matches!(e, ReadError::Truncated { width: 4416, height: 10462, .. }), "{e}");
        // A whole file is far within the limit, even a flat one.
        let flat = flat_jpeg(1024, 1024);
        assert!(1024 * 1024 / flat.len() > 100, "{} bytes", flat.len());
        assert_eq!(read_image(&flat).unwrap().width, 1024);
    }

    #[test]
    fn pictures_within_the_limits_are_read() {
        let image = RgbImage { width: 3, height: 2, pixels: (0..18).collect() };
        let bytes = super::super::encode_png(&image, &[]).unwrap();
        assert_eq!(read_image(&bytes).unwrap(), image);
    }
}
