//! An RGB888 frame in memory: the one thing the layout draws into, and what
//! every back-end presents (PNG as is, framebuffer and SPI converted).

use crate::display::Rotation;
use embedded_graphics::pixelcolor::{Rgb565, Rgb888};
use embedded_graphics::prelude::*;
use std::convert::Infallible;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// Row-major RGB bytes.
    pub pixels: Vec<u8>,
}

impl Frame {
    pub fn new(width: u32, height: u32) -> Frame {
        Frame { width, height, pixels: vec![0; (width * height * 3) as usize] }
    }

    pub fn get(&self, x: u32, y: u32) -> Rgb888 {
        let i = ((y * self.width + x) * 3) as usize;
        Rgb888::new(self.pixels[i], self.pixels[i + 1], self.pixels[i + 2])
    }

    pub fn set(&mut self, x: u32, y: u32, c: Rgb888) {
        let i = ((y * self.width + x) * 3) as usize;
        self.pixels[i..i + 3].copy_from_slice(&[c.r(), c.g(), c.b()]);
    }

    /// This frame turned clockwise by `rotation` (for a screen mounted
    /// sideways: the layout draws upright, the device gets it turned).
    pub fn rotated(&self, rotation: Rotation) -> Frame {
        let (w, h) = (self.width, self.height);
        let (ow, oh) = rotation.layout_size(w, h);
        let mut out = Frame::new(ow, oh);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = match rotation {
                    Rotation::Deg0 => (x, y),
                    Rotation::Deg90 => (h - 1 - y, x),
                    Rotation::Deg180 => (w - 1 - x, h - 1 - y),
                    Rotation::Deg270 => (y, w - 1 - x),
                };
                out.set(dx, dy, self.get(x, y));
            }
        }
        out
    }

    /// The frame as a 16-bit panel or framebuffer shows it.
    pub fn to_rgb565(&self) -> Vec<Rgb565> {
        self.pixels.chunks_exact(3).map(|p| Rgb565::from(Rgb888::new(p[0], p[1], p[2]))).collect()
    }

    /// This frame after a round trip through RGB565 (for comparing with 16-bit back-ends).
    pub fn quantized_565(&self) -> Frame {
        let mut out = self.clone();
        for (dst, c) in out.pixels.chunks_exact_mut(3).zip(self.to_rgb565()) {
            let c = Rgb888::from(c);
            dst.copy_from_slice(&[c.r(), c.g(), c.b()]);
        }
        out
    }
}

impl OriginDimensions for Frame {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for Frame {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Infallible>
    where
        I: IntoIterator<Item = Pixel<Rgb888>>,
    {
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && (p.x as u32) < self.width && (p.y as u32) < self.height {
                self.set(p.x as u32, p.y as u32, c);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×2 frame whose pixels are numbered 1..=6 in reading order.
    fn numbered() -> Frame {
        let mut f = Frame::new(3, 2);
        for (i, px) in f.pixels.chunks_exact_mut(3).enumerate() {
            px[0] = i as u8 + 1;
        }
        f
    }

    fn reds(f: &Frame) -> Vec<u8> {
        f.pixels.chunks_exact(3).map(|p| p[0]).collect()
    }

    #[test]
    fn rotation_turns_the_picture_clockwise() {
        // 1 2 3      90°: 4 1     180°: 6 5 4     270°: 3 6
        // 4 5 6           5 2           3 2 1           2 5
        //                 6 3                           1 4
        let f = numbered();
        assert_eq!(reds(&f.rotated(Rotation::Deg0)), [1, 2, 3, 4, 5, 6]);
        let r90 = f.rotated(Rotation::Deg90);
        assert_eq!((r90.width, r90.height), (2, 3));
        assert_eq!(reds(&r90), [4, 1, 5, 2, 6, 3]);
        assert_eq!(reds(&f.rotated(Rotation::Deg180)), [6, 5, 4, 3, 2, 1]);
        assert_eq!(reds(&f.rotated(Rotation::Deg270)), [3, 6, 2, 5, 1, 4]);
    }
}
