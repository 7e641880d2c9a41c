//! The AVX-512 VNNI kernels of our int8 operators (int8_conv3x3.rs,
//! int8_matmul.rs). `vpdpbusd` adds, in each of 16 i32 lanes, four products
//! of unsigned input bytes with signed weight bytes. Both kernels keep
//! [`MR`] × 4 accumulators of 16 lanes in registers over the whole sum:
//! [`MR`] broadcast words (output channels or rows) × [`LANES`] lanes of the
//! vector operand (points or columns).

/// Broadcast words per block: output channels (convolution) or rows (product).
pub const MR: usize = 6;
/// Lanes per block: points (convolution) or columns (product), 4 vectors of 16.
pub const LANES: usize = 64;

/// Whether this CPU runs the VNNI kernels (the only case worth the swap:
/// elsewhere tract's own int8 kernels stay).
pub fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    return is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(target_arch = "x86_64")]
pub mod kernels {
    use super::{LANES, MR};
    use std::arch::x86_64::*;

    const VECTORS: usize = LANES / 16;

    /// int8_conv3x3.rs's `Band::dot_block`: each step one tap of one group
    /// of four channels, the 64 points read from the band at the tap's
    /// offset, the weights broadcast.
    ///
    /// # Safety
    /// The CPU has AVX-512F and VNNI; `bytes` holds `groups` planes of
    /// `plane` points of 4 bytes, each read up to `p0 + 64 + 2 stride + 2`
    /// points; `weights` holds `groups × 9 × MR × 4` bytes.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn conv_block(
        bytes: &[u8],
        (plane, groups, stride): (usize, usize, usize),
        weights: &[i8],
        p0: usize,
        out: &mut [[i32; LANES]; MR],
    ) {
        let mut acc = [[_mm512_setzero_si512(); VECTORS]; MR];
        let offsets: [usize; 9] = std::array::from_fn(|t| (p0 + (t / 3) * stride + t % 3) * 4);
        for g in 0..groups {
            let base = bytes.as_ptr().add(g * plane * 4);
            let taps = weights.as_ptr().add(g * 9 * MR * 4) as *const i32;
            for (t, &offset) in offsets.iter().enumerate() {
                let x: [__m512i; VECTORS] =
                    std::array::from_fn(|v| _mm512_loadu_si512(base.add(offset + v * 64) as *const _));
                for (m, acc) in acc.iter_mut().enumerate() {
                    let k = _mm512_set1_epi32(taps.add(t * MR + m).read_unaligned());
                    for (a, &x) in acc.iter_mut().zip(&x) {
                        *a = _mm512_dpbusd_epi32(*a, x, k);
                    }
                }
            }
        }
        store(&acc, out);
    }

    /// int8_matmul.rs's `dot_block`: each step four bytes of k, broadcast
    /// from each row, against 64 columns of packed weights.
    ///
    /// # Safety
    /// The CPU has AVX-512F and VNNI; the lines have the same length, a
    /// multiple of 4; `weights` holds `len × 64` bytes.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn matmul_block(lines: [&[u8]; MR], weights: &[i8], out: &mut [[i32; LANES]; MR]) {
        let mut acc = [[_mm512_setzero_si512(); VECTORS]; MR];
        let rows: [*const i32; MR] = std::array::from_fn(|m| lines[m].as_ptr() as *const i32);
        for g in 0..lines[0].len() / 4 {
            let b = weights.as_ptr().add(g * LANES * 4);
            let w: [__m512i; VECTORS] = std::array::from_fn(|v| _mm512_loadu_si512(b.add(v * 64) as *const _));
            for (acc, row) in acc.iter_mut().zip(rows) {
                let x = _mm512_set1_epi32(row.add(g).read_unaligned());
                for (a, &w) in acc.iter_mut().zip(&w) {
                    *a = _mm512_dpbusd_epi32(*a, x, w);
                }
            }
        }
        store(&acc, out);
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn store(acc: &[[__m512i; VECTORS]; MR], out: &mut [[i32; LANES]; MR]) {
        for (out, acc) in out.iter_mut().zip(acc) {
            for (v, a) in acc.iter().enumerate() {
                _mm512_storeu_si512(out.as_mut_ptr().add(v * 16) as *mut _, *a);
            }
        }
    }
}
