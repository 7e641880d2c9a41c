//! Seeded Gaussian noise that is bit-identical on every platform.
//!
//! ChaCha20 gives the same bits everywhere; the Box-Muller transform uses the
//! pure-Rust `libm` (not the platform's libm, whose last-bit rounding of
//! log/cos differs between glibc x86 and ARM), so the same seed gives the same
//! picture on a PC and on a Pi.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

pub struct Noise {
    rng: ChaCha20Rng,
    spare: Option<f64>,
}

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise { rng: ChaCha20Rng::seed_from_u64(seed), spare: None }
    }

    /// A uniform number in (0, 1], 53 bits.
    fn uniform(&mut self) -> f64 {
        ((self.rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub fn normal(&mut self) -> f32 {
        if let Some(z) = self.spare.take() {
            return z as f32;
        }
        let r = libm::sqrt(-2.0 * libm::log(self.uniform()));
        let theta = 2.0 * std::f64::consts::PI * self.uniform();
        self.spare = Some(r * libm::sin(theta));
        (r * libm::cos(theta)) as f32
    }

    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.normal()).collect()
    }
}

/// A seed for a picture nobody gave one for: 32 bits from the OS, so a
/// person can retype it (plenty for picking a picture).
pub fn random_seed() -> u64 {
    use rand_core::{OsRng, RngCore};
    OsRng.next_u32() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_noise_other_seed_other_noise() {
        assert_eq!(Noise::new(7).normals(64), Noise::new(7).normals(64));
        assert_ne!(Noise::new(7).normals(64), Noise::new(8).normals(64));
    }

    #[test]
    fn moments_are_standard_normal() {
        let v = Noise::new(1).normals(200_000);
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
    }

    #[test]
    fn first_values_are_pinned() {
        // Pinned on x86_64; the cross-compiled test run on ARM must give the same bits.
        let bits: Vec<u32> = Noise::new(42).normals(4).iter().map(|x| x.to_bits()).collect();
        assert_eq!(bits, PINNED_SEED_42.to_vec(), "noise for seed 42 changed: {:?}", Noise::new(42).normals(4));
    }

    const PINNED_SEED_42: [u32; 4] = [3212414365, 1058926385, 1065934627, 1072671601];
}
