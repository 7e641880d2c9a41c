//! The tiled mark's pattern: one TILE×TILE tile (in canonical pixels) whose
//! Fourier coefficients in a mid-frequency band are chosen by the key. A
//! share of them is a fixed synchronisation pattern (found by correlation
//! after a crop, resize or rotation); the rest carry the 128 code bits, each
//! on its own few coefficients with key-chosen signs. Coefficients are
//! disjoint, so the bits do not interfere with each other or with the sync.

use super::fft2::{Complex32, Fft2};
use super::key::Key;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

/// Cells per tile side; the tile repeats across the picture.
pub const TILE: usize = 64;
/// Frequencies (cycles per tile) that carry the mark: above the lowest
/// (where the picture itself is strongest) and below what a 0.5× resize or
/// JPEG 50 removes (16 cycles per 64 cells = 0.25 cycles per canonical px).
const BAND: (f32, f32) = (2.0, 16.0);
/// Share of the band's coefficients given to the synchronisation pattern.
const SYNC_SHARE: f32 = 0.3;

/// One real degree of freedom: the real or imaginary part of the
/// coefficient at (ky, kx) (kx ≥ 0: the other half is its mirror), with a
/// key-chosen sign.
#[derive(Debug, Clone, Copy)]
struct Dof {
    ky: i32,
    kx: i32,
    imag: bool,
    sign: f32,
}

pub struct Layout {
    sync: Vec<Dof>,
    bits: Vec<Vec<Dof>>,
}

/// Detection weight of a frequency: pictures have most of their energy at
/// low frequencies, so higher ones are trusted more (a rough whitening).
pub fn weight(ky: i32, kx: i32) -> f32 {
    let r = ((ky * ky + kx * kx) as f32).sqrt();
    if r >= BAND.0 && r <= BAND.1 {
        r
    } else {
        0.0
    }
}

fn index(ky: i32, kx: i32, n: usize) -> usize {
    ky.rem_euclid(n as i32) as usize * n + kx.rem_euclid(n as i32) as usize
}

impl Layout {
    pub fn new(key: &Key, n_bits: usize) -> Layout {
        let mut seed = Sha256::new();
        seed.update(b"edgepaint tiled mark v2\0");
        seed.update(key.bytes());
        let mut rng = ChaCha20Rng::from_seed(seed.finalize().into());
        let half = TILE as i32 / 2;
        let mut dofs = Vec::new();
        for ky in -half + 1..half {
            for kx in 0..half {
                let r = ((ky * ky + kx * kx) as f32).sqrt();
                if r < BAND.0 || r > BAND.1 || (kx == 0 && ky < 0) {
                    continue;
                }
                for imag in [false, true] {
                    dofs.push(Dof { ky, kx, imag, sign: 1.0 });
                }
            }
        }
        for i in (1..dofs.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            dofs.swap(i, j);
        }
        for d in &mut dofs {
            d.sign = if rng.next_u32() & 1 == 1 { 1.0 } else { -1.0 };
        }
        let n_sync = (dofs.len() as f32 * SYNC_SHARE) as usize;
        let mut bits = vec![Vec::new(); n_bits];
        for (t, d) in dofs[n_sync..].iter().enumerate() {
            bits[t % n_bits].push(*d);
        }
        Layout { sync: dofs[..n_sync].to_vec(), bits }
    }

    /// The tile for `bits`, sampled `oversample` times per cell, unit RMS,
    /// row-major (TILE·oversample)².
    pub fn tile(&self, bits: &[bool], oversample: usize) -> Vec<f32> {
        let n = TILE * oversample;
        let mut spectrum = vec![Complex32::new(0.0, 0.0); n * n];
        let mut put = |d: &Dof, v: f32| {
            let c = if d.imag { Complex32::new(0.0, v) } else { Complex32::new(v, 0.0) };
            spectrum[index(d.ky, d.kx, n)] += c;
            spectrum[index(-d.ky, -d.kx, n)] += c.conj();
        };
        for d in &self.sync {
            put(d, d.sign);
        }
        for (group, &bit) in self.bits.iter().zip(bits) {
            for d in group {
                put(d, if bit { d.sign } else { -d.sign });
            }
        }
        Fft2::new(n).inverse(&mut spectrum);
        let tile: Vec<f32> = spectrum.iter().map(|c| c.re).collect();
        let rms = (tile.iter().map(|v| v * v).sum::<f32>() / tile.len() as f32).sqrt();
        tile.into_iter().map(|v| v / rms).collect()
    }

    /// The sync pattern's spectrum times the detection weights (TILE²), to
    /// correlate a folded tile's spectrum with.
    pub fn sync_filter(&self) -> Vec<Complex32> {
        let mut s = vec![Complex32::new(0.0, 0.0); TILE * TILE];
        for d in &self.sync {
            let w = weight(d.ky, d.kx) * d.sign;
            s[index(d.ky, d.kx, TILE)] += if d.imag { Complex32::new(0.0, w) } else { Complex32::new(w, 0.0) };
        }
        s
    }

    /// Each bit's weighted correlation with a folded tile's spectrum `g`
    /// whose grid starts `offset` (y, x) cells into the tile: > 0 reads 1.
    pub fn soft_bits(&self, g: &[Complex32], offset: (f32, f32)) -> Vec<f32> {
        let phase = |d: &Dof| {
            let a = -2.0 * std::f32::consts::PI * (d.ky as f32 * offset.0 + d.kx as f32 * offset.1) / TILE as f32;
            let v = g[index(d.ky, d.kx, TILE)] * Complex32::new(a.cos(), a.sin());
            d.sign * weight(d.ky, d.kx) * if d.imag { v.im } else { v.re }
        };
        self.bits.iter().map(|group| group.iter().map(phase).sum()).collect()
    }

    /// Each soft bit's variance when `g` holds no mark: the sum over its
    /// coefficients of weight² times half the mean power of `g` on the
    /// coefficient's frequency ring (the real and imaginary parts share it).
    /// A mark in `g` only raises the estimate.
    pub fn soft_bit_noise(&self, g: &[Complex32]) -> Vec<f32> {
        let rings = (BAND.1.ceil() as usize) + 2;
        let (mut power, mut count) = (vec![0f32; rings], vec![0f32; rings]);
        let half = TILE as i32 / 2;
        for ky in -half + 1..half {
            for kx in -half + 1..half {
                let r = ((ky * ky + kx * kx) as f32).sqrt().round() as usize;
                if r > 0 && r < rings {
                    power[r] += g[index(ky, kx, TILE)].norm_sqr();
                    count[r] += 1.0;
                }
            }
        }
        let ring = |d: &Dof| {
            let r = ((d.ky * d.ky + d.kx * d.kx) as f32).sqrt().round() as usize;
            power[r] / count[r].max(1.0)
        };
        self.bits.iter().map(|group| group.iter().map(|d| weight(d.ky, d.kx).powi(2) * ring(d) / 2.0).sum()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bit_has_coefficients_of_its_own() {
        let layout = Layout::new(&Key::new("k"), 128);
        assert!(layout.bits.iter().all(|b| b.len() >= 4), "{:?}", layout.bits.iter().map(Vec::len).min());
        let mut seen = std::collections::HashSet::new();
        for d in layout.sync.iter().chain(layout.bits.iter().flatten()) {
            assert!(seen.insert((d.ky, d.kx, d.imag)), "coefficient used twice");
        }
    }

    #[test]
    fn a_clean_tile_reads_back_its_bits() {
        let layout = Layout::new(&Key::new("k"), 128);
        let bits: Vec<bool> = (0..128).map(|i| (i * 7 + 3) % 5 < 2).collect();
        let tile = layout.tile(&bits, 1);
        let mut g: Vec<Complex32> = tile.iter().map(|&v| Complex32::new(v, 0.0)).collect();
        Fft2::new(TILE).forward(&mut g);
        let read: Vec<bool> = layout.soft_bits(&g, (0.0, 0.0)).iter().map(|&s| s > 0.0).collect();
        assert_eq!(read, bits);
    }
}
