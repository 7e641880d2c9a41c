//! Pictures as `verify` handles them: any PNG or JPEG decoded, the watermark
//! looked for, a PNG's text chunks and the XMP source type read.

use edgepaint::image::{read_image, read_png_text};
use edgepaint::watermark::mark::DEFAULT_KEY;
use edgepaint::watermark::xmp::digital_source_type;
use edgepaint::watermark::{detect, Key};

fn main() {
    let key = Key::new(DEFAULT_KEY);
    afl::fuzz!(|data: &[u8]| {
        if let Ok(image) = read_image(data) {
            assert_eq!(image.pixels.len(), image.width * image.height * 3);
            let _ = detect(&image, &key);
        }
        for (_, text) in read_png_text(data).unwrap_or_default() {
            let _ = digital_source_type(&text);
        }
    });
}
