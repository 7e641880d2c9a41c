//! The Linux framebuffer (/dev/fbN: HDMI, the Pi DSI panel), 16 or 32 bpp.
//! For a character device, geometry, line length and channel layout come
//! from the device (FBIOGET_VSCREENINFO / FBIOGET_FSCREENINFO); for a plain
//! file (tests, a remote viewer) from the board file, as RGB565 or XRGB8888.

use super::{Display, DisplayError, Frame};
use embedded_graphics::pixelcolor::RgbColor;
use std::fs::{File, OpenOptions};
use serde::Deserialize;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::PathBuf;

/// Where each 8-bit channel goes in a pixel word: (offset, length) in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelFormat {
    pub bpp: u32,
    pub red: (u32, u32),
    pub green: (u32, u32),
    pub blue: (u32, u32),
}

impl PixelFormat {
    pub const RGB565: PixelFormat = PixelFormat { bpp: 16, red: (11, 5), green: (5, 6), blue: (0, 5) };
    pub const XRGB8888: PixelFormat = PixelFormat { bpp: 32, red: (16, 8), green: (8, 8), blue: (0, 8) };

    /// The pixel word for an RGB888 colour (little-endian in memory).
    pub fn pack(&self, r: u8, g: u8, b: u8) -> u32 {
        // Rounded like embedded-graphics' colour conversions.
        let ch = |v: u8, (off, len): (u32, u32)| {
            let max = (1u32 << len) - 1;
            ((v as u32 * max + 127) / 255) << off
        };
        ch(r, self.red) | ch(g, self.green) | ch(b, self.blue)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FbGeometry {
    pub width: u32,
    pub height: u32,
    /// Bytes from one row to the next (≥ width × bpp / 8).
    pub line_length: u32,
    pub format: PixelFormat,
    /// Where the visible area starts in the framebuffer memory (panning), in bytes.
    pub offset: u64,
}

pub struct FbDisplay {
    file: File,
    device: String,
    geometry: FbGeometry,
    rotation: Rotation,
    buf: Vec<u8>,
}

impl FbDisplay {
    pub fn open(config: &FbConfig) -> Result<FbDisplay, DisplayError> {
        let device = config.device.display().to_string();
        let fail = |m: String| DisplayError::device(&device, m);
        let file = OpenOptions::new().read(true).write(true).open(&config.device).map_err(|e| fail(e.to_string()))?;
        let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
        let geometry = if meta.file_type().is_char_device() {
            let g = ioctl::query(&file).map_err(|e| fail(format!("not a framebuffer ({e})")))?;
            let disagree = |what: &str, board: Option<u32>, dev: u32| match board {
                Some(b) if b != dev => Err(fail(format!("the board file says {what} {b}, the device has {dev}"))),
                _ => Ok(()),
            };
            disagree("width", config.width, g.width)?;
            disagree("height", config.height, g.height)?;
            disagree("bpp", config.bpp, g.format.bpp)?;
            g
        } else {
            let need = |v: Option<u32>, f: &str| v.ok_or_else(|| fail(format!("a file-backed framebuffer needs display.{f}")));
            let (width, height) = (need(config.width, "width")?, need(config.height, "height")?);
            let format = match need(config.bpp, "bpp")? {
                16 => PixelFormat::RGB565,
                32 => PixelFormat::XRGB8888,
                b => return Err(fail(format!("bpp must be 16 or 32 (got {b})"))),
            };
            let line_length = config.line_length.unwrap_or(width * format.bpp / 8);
            if line_length < width * format.bpp / 8 {
                return Err(fail(format!("line_length {line_length} is shorter than a row of {width} pixels")));
            }
            FbGeometry { width, height, line_length, format, offset: 0 }
        };
        if geometry.format.bpp != 16 && geometry.format.bpp != 32 {
            return Err(fail(format!("{} bits per pixel is not supported (16 or 32)", geometry.format.bpp)));
        }
        let mut buf = vec![0; (geometry.line_length * geometry.height) as usize];
        // Start from what is there, so the padding after each row is kept as it was.
        let _ = file.read_at(&mut buf, geometry.offset);
        Ok(FbDisplay { file, device, geometry, rotation: config.rotation, buf })
    }

    pub fn geometry(&self) -> FbGeometry {
        self.geometry
    }
}

/// Pack a frame into framebuffer memory (rows `line_length` apart).
pub fn encode(frame: &Frame, g: &FbGeometry, buf: &mut [u8]) {
    let bytes = (g.format.bpp / 8) as usize;
    for y in 0..frame.height.min(g.height) {
        let row = &mut buf[(y * g.line_length) as usize..];
        for x in 0..frame.width.min(g.width) {
            let c = frame.get(x, y);
            let word = g.format.pack(c.r(), c.g(), c.b()).to_le_bytes();
            row[x as usize * bytes..(x as usize + 1) * bytes].copy_from_slice(&word[..bytes]);
        }
    }
}

impl Display for FbDisplay {
    fn size(&self) -> (u32, u32) {
        self.rotation.layout_size(self.geometry.width, self.geometry.height)
    }

    fn show(&mut self, frame: &Frame) -> Result<(), DisplayError> {
        match self.rotation {
            Rotation::Deg0 => encode(frame, &self.geometry, &mut self.buf),
            r => encode(&frame.rotated(r), &self.geometry, &mut self.buf),
        }
        self.file.write_all_at(&self.buf, self.geometry.offset).map_err(|e| DisplayError::device(&self.device, e))
    }
}

mod ioctl {
    //! The two framebuffer queries, with the kernel's structs (linux/fb.h).
    use super::{FbGeometry, PixelFormat};
    use std::os::fd::AsRawFd;

    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct Bitfield {
        offset: u32,
        length: u32,
        msb_right: u32,
    }

    #[repr(C)]
    #[derive(Default)]
    struct VarScreeninfo {
        xres: u32,
        yres: u32,
        xres_virtual: u32,
        yres_virtual: u32,
        xoffset: u32,
        yoffset: u32,
        bits_per_pixel: u32,
        grayscale: u32,
        red: Bitfield,
        green: Bitfield,
        blue: Bitfield,
        transp: Bitfield,
        nonstd: u32,
        activate: u32,
        height: u32,
        width: u32,
        accel_flags: u32,
        /// pixclock, left/right/upper/lower margin, hsync/vsync length, sync.
        timing: [u32; 8],
        vmode: u32,
        rotate: u32,
        colorspace: u32,
        reserved: [u32; 4],
    }

    #[repr(C)]
    struct FixScreeninfo {
        id: [u8; 16],
        smem_start: std::os::raw::c_ulong,
        smem_len: u32,
        type_: u32,
        type_aux: u32,
        visual: u32,
        xpanstep: u16,
        ypanstep: u16,
        ywrapstep: u16,
        line_length: u32,
        mmio_start: std::os::raw::c_ulong,
        mmio_len: u32,
        accel: u32,
        capabilities: u16,
        reserved: [u16; 2],
    }

    // linux/fb.h: struct fb_var_screeninfo is 160 bytes on every architecture.
    const _: () = assert!(std::mem::size_of::<VarScreeninfo>() == 160);

    nix::ioctl_read_bad!(get_var, 0x4600, VarScreeninfo);
    nix::ioctl_read_bad!(get_fix, 0x4602, FixScreeninfo);

    pub fn query(file: &std::fs::File) -> nix::Result<FbGeometry> {
        let mut var = VarScreeninfo::default();
        // SAFETY: FixScreeninfo is plain data; all-zero is a valid value.
        let mut fix: FixScreeninfo = unsafe { std::mem::zeroed() };
        // SAFETY: the fd is open and the structs match linux/fb.h.
        unsafe {
            get_var(file.as_raw_fd(), &mut var)?;
            get_fix(file.as_raw_fd(), &mut fix)?;
        }
        let f = |b: Bitfield| (b.offset, b.length);
        Ok(FbGeometry {
            width: var.xres,
            height: var.yres,
            line_length: fix.line_length,
            format: PixelFormat { bpp: var.bits_per_pixel, red: f(var.red), green: f(var.green), blue: f(var.blue) },
            offset: var.yoffset as u64 * fix.line_length as u64 + (var.xoffset * var.bits_per_pixel / 8) as u64,
        })
    }
}

/// A Linux framebuffer. For a character device (/dev/fbN) the geometry comes
/// from the device and any value given here must agree; for a plain file
/// (tests, a remote viewer) width, height and bpp are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbConfig {
    pub device: PathBuf,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// 16 (RGB565) or 32 (XRGB8888).
    pub bpp: Option<u32>,
    /// Bytes per row (default: width × bpp / 8).
    pub line_length: Option<u32>,
    /// For a screen mounted sideways or upside down: the picture is turned
    /// clockwise by this many degrees onto the framebuffer (0, 90, 180, 270;
    /// width and height stay the framebuffer's own).
    #[serde(default)]
    pub rotation: Rotation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "u32")]
pub enum Rotation {
    #[default]
    Deg0,
    Deg90,
    Deg180,
    Deg270,
}

impl Rotation {
    /// The layout's size on a device of `width` × `height` turned this way.
    pub fn layout_size(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            Rotation::Deg90 | Rotation::Deg270 => (height, width),
            Rotation::Deg0 | Rotation::Deg180 => (width, height),
        }
    }
}

impl TryFrom<u32> for Rotation {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        match v {
            0 => Ok(Rotation::Deg0),
            90 => Ok(Rotation::Deg90),
            180 => Ok(Rotation::Deg180),
            270 => Ok(Rotation::Deg270),
            _ => Err(format!("rotation must be 0, 90, 180 or 270 (got {v})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::pixelcolor::{Rgb565, Rgb888};
    use embedded_graphics::prelude::IntoStorage;

    #[test]
    fn rgb565_packing_matches_embedded_graphics() {
        for v in [0u8, 1, 3, 4, 7, 100, 127, 128, 200, 254, 255] {
            let (r, g, b) = (v, v.wrapping_mul(7), 255 - v);
            let eg = Rgb565::from(Rgb888::new(r, g, b)).into_storage() as u32;
            assert_eq!(PixelFormat::RGB565.pack(r, g, b), eg, "{r} {g} {b}");
        }
        assert_eq!(PixelFormat::XRGB8888.pack(1, 2, 3), 0x010203);
    }
}
