//! The display back-ends against the png back-end's frame for the same
//! screen: a file-backed framebuffer at 16 and 32 bpp, and SPI panels
//! (ST7789, ILI9341 rotated) on a recording fake bus whose CASET/RASET/RAMWR
//! stream is decoded back into a frame.

use edgepaint::board::Board;
use edgepaint::display::{DisplayConfig, FbConfig, Rotation, SpiConfig};
use edgepaint::display::fb::FbDisplay;
use edgepaint::display::png::PngDisplay;
use edgepaint::display::{layout, present, Display, Frame, Screen};
use edgepaint::image::RgbImage;
use std::sync::{Arc, Mutex};

fn screen() -> Screen {
    // A picture with detail in every channel, so scaling and packing show.
    let (w, h) = (64, 48);
    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            pixels.extend([(x * 4) as u8, (y * 5) as u8, ((x + y) * 3) as u8]);
        }
    }
    Screen {
        title: "test".into(),
        presets: vec!["a".into()],
        image: Some(Arc::new(RgbImage { width: w, height: h, pixels })),
        prompt: Some("a red house on a snowy field at night, with a moon and three trees".into()),
        progress: Some((2, 4)),
        status: "generating 2/4".into(),
        idle: false,
    }
}

/// The png back-end's frame, read back from its file.
fn png_frame(width: u32, height: u32) -> Frame {
    let dir = tempfile::tempdir().unwrap();
    let mut png = PngDisplay::new(dir.path().to_path_buf(), width, height, false).unwrap();
    present(&mut png, &screen()).unwrap();
    let bytes = std::fs::read(dir.path().join("frame-000001.png")).unwrap();
    assert_eq!(bytes, std::fs::read(dir.path().join("latest.png")).unwrap());
    let mut reader = png::Decoder::new(&bytes[..]).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (width, height));
    pixels.truncate(info.buffer_size());
    let frame = Frame { width, height, pixels };
    assert_eq!(frame, layout::render(&screen(), width, height));
    frame
}

fn fb_frame(bpp: u32, width: u32, height: u32, line_length: u32) -> Frame {
    fb_frame_rotated(bpp, width, height, line_length, Rotation::Deg0)
}

/// What a file-backed framebuffer of `width` × `height` holds after the
/// kiosk presents its screen, read back as a frame of the device's size.
fn fb_frame_rotated(bpp: u32, width: u32, height: u32, line_length: u32, rotation: Rotation) -> Frame {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fb");
    std::fs::write(&path, vec![0xAAu8; (line_length * height) as usize]).unwrap();
    let config = FbConfig {
        device: path.clone(),
        width: Some(width),
        height: Some(height),
        bpp: Some(bpp),
        line_length: Some(line_length),
        rotation,
    };
    let mut fb = FbDisplay::open(&config).unwrap();
    assert_eq!(fb.size(), rotation.layout_size(width, height));
    present(&mut fb, &screen()).unwrap();
    let mem = std::fs::read(&path).unwrap();
    let mut frame = Frame::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let at = (y * line_length + x * bpp / 8) as usize;
            let (r, g, b) = if bpp == 32 {
                (mem[at + 2], mem[at + 1], mem[at]) // XRGB8888, little-endian
            } else {
                let v = u16::from_le_bytes([mem[at], mem[at + 1]]);
                let c = embedded_graphics::pixelcolor::Rgb565::new((v >> 11) as u8, ((v >> 5) & 63) as u8, (v & 31) as u8);
                let c = embedded_graphics::pixelcolor::Rgb888::from(c);
                use embedded_graphics::pixelcolor::RgbColor;
                (c.r(), c.g(), c.b())
            };
            frame.set(x, y, embedded_graphics::pixelcolor::Rgb888::new(r, g, b));
        }
    }
    // The padding after each row is left alone.
    if line_length > width * bpp / 8 {
        assert_eq!(mem[(width * bpp / 8) as usize], 0xAA);
    }
    frame
}

#[test]
fn framebuffer_32bpp_equals_the_png_frame() {
    let expected = png_frame(320, 240);
    assert_eq!(fb_frame(32, 320, 240, 320 * 4 + 64), expected);
}

#[test]
fn framebuffer_16bpp_equals_the_png_frame_in_rgb565() {
    let expected = png_frame(240, 240).quantized_565();
    assert_eq!(fb_frame(16, 240, 240, 240 * 2), expected);
    assert_eq!(fb_frame(16, 240, 240, 256 * 2), expected);
}

#[test]
fn framebuffer_mounted_sideways_gets_the_png_frame_turned() {
    // A 240×320 portrait panel turned to show a 320×240 landscape layout.
    let layout = png_frame(320, 240);
    assert_eq!(fb_frame_rotated(32, 240, 320, 240 * 4, Rotation::Deg90), layout.rotated(Rotation::Deg90));
    assert_eq!(fb_frame_rotated(32, 240, 320, 240 * 4, Rotation::Deg270), layout.rotated(Rotation::Deg270));
    let upright = png_frame(320, 240);
    assert_eq!(fb_frame_rotated(32, 320, 240, 320 * 4, Rotation::Deg180), upright.rotated(Rotation::Deg180));
}

#[test]
fn file_backed_framebuffer_needs_its_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fb");
    std::fs::write(&path, b"").unwrap();
    let config =
        FbConfig { device: path, width: Some(320), height: None, bpp: Some(32), line_length: None, rotation: Rotation::Deg0 };
    let e = FbDisplay::open(&config).err().unwrap().to_string();
    assert!(e.ends_with("a file-backed framebuffer needs display.height"), "{e}");
}

/// What the fake bus saw: (DC level, bytes) per SPI write.
#[derive(Default)]
struct Bus {
    dc: bool,
    writes: Vec<(bool, Vec<u8>)>,
}

struct FakeSpi(Arc<Mutex<Bus>>);
struct FakeDc(Arc<Mutex<Bus>>);
struct FakeDelay;

impl embedded_hal::spi::ErrorType for FakeSpi {
    type Error = core::convert::Infallible;
}

impl embedded_hal::spi::SpiDevice for FakeSpi {
    fn transaction(&mut self, ops: &mut [embedded_hal::spi::Operation<'_, u8>]) -> Result<(), Self::Error> {
        let mut bus = self.0.lock().unwrap();
        for op in ops {
            if let embedded_hal::spi::Operation::Write(bytes) = op {
                let dc = bus.dc;
                bus.writes.push((dc, bytes.to_vec()));
            }
        }
        Ok(())
    }
}

impl embedded_hal::digital::ErrorType for FakeDc {
    type Error = core::convert::Infallible;
}

impl embedded_hal::digital::OutputPin for FakeDc {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.0.lock().unwrap().dc = false;
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.0.lock().unwrap().dc = true;
        Ok(())
    }
}

impl embedded_hal::delay::DelayNs for FakeDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// Replay the recorded command stream into a frame: CASET/RASET set the
/// window, RAMWR's data fills it row by row in big-endian RGB565.
fn decode(writes: &[(bool, Vec<u8>)], width: u32, height: u32) -> (Frame, usize) {
    decode_onto(Frame::new(width, height), writes)
}

/// [`decode`] onto what the panel showed before.
fn decode_onto(mut frame: Frame, writes: &[(bool, Vec<u8>)]) -> (Frame, usize) {
    let (mut cols, mut rows) = ((0u32, 0u32), (0u32, 0u32));
    let mut command = 0u8;
    let mut data: Vec<u8> = Vec::new();
    let mut ramwr = 0;
    let flush = |command: u8, data: &mut Vec<u8>, cols: &mut (u32, u32), rows: &mut (u32, u32), frame: &mut Frame| {
        let be = |i: usize| ((data[i] as u32) << 8) | data[i + 1] as u32;
        match command {
            0x2A => *cols = (be(0), be(2)),
            0x2B => *rows = (be(0), be(2)),
            0x2C => {
                let w = cols.1 - cols.0 + 1;
                for (i, px) in data.chunks_exact(2).enumerate() {
                    let v = u16::from_be_bytes([px[0], px[1]]);
                    let (x, y) = (cols.0 + i as u32 % w, rows.0 + i as u32 / w);
                    let c = embedded_graphics::pixelcolor::Rgb565::new((v >> 11) as u8, ((v >> 5) & 63) as u8, (v & 31) as u8);
                    frame.set(x, y, c.into());
                }
            }
            _ => {}
        }
        data.clear();
    };
    for (dc, bytes) in writes {
        if !dc {
            flush(command, &mut data, &mut cols, &mut rows, &mut frame);
            command = bytes[0];
            ramwr += (command == 0x2C) as usize;
        } else {
            data.extend_from_slice(bytes);
        }
    }
    flush(command, &mut data, &mut cols, &mut rows, &mut frame);
    (frame, ramwr)
}

fn spi_config(board: &str) -> SpiConfig {
    let b = Board::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("board").join(board)).unwrap();
    match b.display {
        DisplayConfig::Spi(s) => s,
        other => panic!("{other:?}"),
    }
}

fn spi_frame(config: &SpiConfig) -> Frame {
    let bus = Arc::new(Mutex::new(Bus::default()));
    let mut panel = edgepaint::display::spi::build(
        config,
        FakeSpi(bus.clone()),
        FakeDc(bus.clone()),
        None::<FakeDc>,
        &mut FakeDelay,
    )
    .unwrap();
    assert_eq!(panel.size(), (config.width, config.height));
    bus.lock().unwrap().writes.clear(); // initialisation commands
    present(panel.as_mut(), &screen()).unwrap();
    let bus = bus.lock().unwrap();
    let (frame, ramwr) = decode(&bus.writes, config.width, config.height);
    assert_eq!(ramwr, 1, "one memory write per frame");
    frame
}

#[test]
fn st7789_panel_receives_the_png_frame() {
    let config = spi_config("pi-st7789-240x240.toml");
    assert_eq!(spi_frame(&config), png_frame(240, 240).quantized_565());
}

#[test]
fn ili9341_rotated_panel_receives_the_png_frame() {
    let config = spi_config("pizero2w-ili9341-320x240.toml");
    assert_eq!(spi_frame(&config), png_frame(320, 240).quantized_565());
}

/// After the first frame the panel gets only the rectangle that changed: a
/// step's preview and progress bar, not the whole screen; an unchanged
/// screen sends nothing.
#[test]
fn spi_panel_receives_only_what_changed() {
    let config = spi_config("pizero2w-ili9341-320x240.toml");
    let (w, h) = (config.width, config.height);
    let bus = Arc::new(Mutex::new(Bus::default()));
    let mut panel =
        edgepaint::display::spi::build(&config, FakeSpi(bus.clone()), FakeDc(bus.clone()), None::<FakeDc>, &mut FakeDelay)
            .unwrap();
    present(panel.as_mut(), &screen()).unwrap();
    let shown = layout::render(&screen(), w, h).quantized_565();
    // The next step: another preview, the bar one step further.
    let mut next = screen();
    let img = next.image.as_ref().unwrap();
    next.image = Some(Arc::new(RgbImage { pixels: img.pixels.iter().map(|v| 255 - v).collect(), ..(**img).clone() }));
    next.progress = Some((3, 4));
    next.status = "generating 3/4".into();
    bus.lock().unwrap().writes.clear();
    present(panel.as_mut(), &next).unwrap();
    let writes = std::mem::take(&mut bus.lock().unwrap().writes);
    let (frame, windows) = decode_onto(shown, &writes);
    assert!(windows >= 1);
    assert_eq!(frame, layout::render(&next, w, h).quantized_565());
    let data: usize = writes.iter().filter(|(dc, _)| *dc).map(|(_, b)| b.len()).sum();
    let full = (w * h * 2) as usize;
    eprintln!("a step's frame: {data} of {full} bytes in {windows} window(s)");
    assert!(data < full * 3 / 4, "sent {data} bytes of a {full}-byte frame");
    // Nothing changed: nothing is sent.
    present(panel.as_mut(), &next).unwrap();
    assert!(bus.lock().unwrap().writes.is_empty());
}

/// The png display keeps a ring of frame files, numbers on across restarts
/// and removes temp files that interrupted writes left (issue 18).
#[test]
fn png_display_keeps_a_ring_of_frames_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let names = || {
        let mut v: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    std::fs::write(dir.path().join(".frame-000009.png.tmp4000001"), b"torn").unwrap();
    std::fs::write(dir.path().join("frame-000002.png"), b"old run").unwrap();
    let mut png = PngDisplay::with_ring(dir.path().to_path_buf(), 32, 24, false, 3).unwrap();
    assert_eq!(names(), ["frame-000002.png"], "the temp file of an interrupted write stays");
    for _ in 0..5 {
        present(&mut png, &screen()).unwrap();
    }
    assert_eq!(names(), ["frame-000005.png", "frame-000006.png", "frame-000007.png", "latest.png"]);
    drop(png);
    // A restart numbers on and keeps the ring.
    let mut png = PngDisplay::with_ring(dir.path().to_path_buf(), 32, 24, false, 2).unwrap();
    assert_eq!(names(), ["frame-000006.png", "frame-000007.png", "latest.png"]);
    present(&mut png, &screen()).unwrap();
    assert_eq!(names(), ["frame-000007.png", "frame-000008.png", "latest.png"]);
}
