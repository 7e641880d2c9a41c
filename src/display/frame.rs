//! An RGB888 frame in memory: the one thing the layout draws into, and what
//! every back-end presents (PNG as is, framebuffer and SPI converted).

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
