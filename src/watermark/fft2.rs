//! Square 2-D FFTs (rows, then columns) on rustfft's 1-D plans.

pub use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

pub struct Fft2 {
    n: usize,
    forward: Arc<dyn Fft<f32>>,
    inverse: Arc<dyn Fft<f32>>,
}

impl Fft2 {
    pub fn new(n: usize) -> Fft2 {
        let mut planner = FftPlanner::new();
        Fft2 { n, forward: planner.plan_fft_forward(n), inverse: planner.plan_fft_inverse(n) }
    }

    /// In place, unnormalised: X[k] = Σ x[j] e^(-2πi k·j / n).
    pub fn forward(&self, data: &mut [Complex32]) {
        self.run(&*self.forward, data);
    }

    /// In place, unnormalised: x[j] = Σ X[k] e^(+2πi k·j / n).
    pub fn inverse(&self, data: &mut [Complex32]) {
        self.run(&*self.inverse, data);
    }

    fn run(&self, fft: &dyn Fft<f32>, data: &mut [Complex32]) {
        let n = self.n;
        assert_eq!(data.len(), n * n, "2-D FFT size");
        fft.process(data);
        transpose(data, n);
        fft.process(data);
        transpose(data, n);
    }
}

fn transpose(data: &mut [Complex32], n: usize) {
    for r in 0..n {
        for c in r + 1..n {
            data.swap(r * n + c, c * n + r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_frequency_lands_in_its_bin_and_comes_back() {
        let n = 8;
        let (ky, kx) = (2.0, 3.0);
        let mut x: Vec<Complex32> = (0..n * n)
            .map(|i| {
                let (y, xx) = ((i / n) as f32, (i % n) as f32);
                let a = 2.0 * std::f32::consts::PI * (ky * y + kx * xx) / n as f32;
                Complex32::new(a.cos(), a.sin())
            })
            .collect();
        let orig = x.clone();
        let f = Fft2::new(n);
        f.forward(&mut x);
        assert!((x[2 * n + 3].re - (n * n) as f32).abs() < 1e-3);
        assert!(x.iter().enumerate().filter(|&(i, _)| i != 2 * n + 3).all(|(_, v)| v.norm() < 1e-3));
        f.inverse(&mut x);
        assert!(x.iter().zip(&orig).all(|(a, b)| (a / (n * n) as f32 - b).norm() < 1e-4));
    }
}
