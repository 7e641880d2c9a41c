//! Soft-decision decoding of the tiled mark's codeword, for pictures whose
//! bits are too damaged for the Reed-Solomon decoder (more than 4 wrong
//! bytes: a dark picture darkened again and saved as JPEG loses about one
//! bit in ten).
//!
//! The Reed-Solomon code is linear over GF(2) on its 128 bits, and 24 of the
//! 64 payload bits (tag and version) are known, so the candidates form a
//! binary [128, 40] code plus a fixed word. Ordered-statistics decoding
//! (Fossorier and Lin, 1995) finds a codeword close to the maximum-likelihood
//! one: solve for the 40 free bits on the most reliable independent
//! positions, then also try flipping up to [`ORDER`] of them. The pick is
//! accepted only when its correlation with the soft bits, in standard
//! deviations of the noise, reaches [`MIN_Z`]: on an unmarked picture each
//! of the 2^40 candidates reaches it with probability Q(MIN_Z) at most, so
//! a decode passes with probability 2^40·Q(MIN_Z) at most, whatever the
//! decoder picks. Written by hand: no crate does OSD on a given code.

use super::ecc::{self, CODEWORD_BITS, CODEWORD_BYTES};
use super::payload::{Payload, FIXED_BITS, PAYLOAD_BYTES, TAG, VERSION};

const FREE_BITS: usize = PAYLOAD_BYTES * 8 - FIXED_BITS;
/// Most reliable-position flips tried (OSD order).
const ORDER: usize = 2;
/// Correlation, in noise standard deviations, a decoded codeword needs.
pub const MIN_Z: f64 = 10.8;

/// One codeword as bits, bit i = codeword bit i (ecc::to_bits order).
type Word = u128;

fn word(bytes: &[u8; CODEWORD_BYTES]) -> Word {
    ecc::to_bits(bytes).iter().enumerate().fold(0, |w, (i, &b)| w | (b as Word) << i)
}

/// The code: the codeword of the fixed bits (free bits 0) and one
/// generator row per free payload bit.
pub struct SoftDecoder {
    fixed: Word,
    rows: [Word; FREE_BITS],
}

/// A soft decode: the payload, the bytes of the hard-decided word it
/// differs from, and its correlation z.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftDecode {
    pub payload: Payload,
    pub corrected: usize,
    pub z: f64,
}

impl Default for SoftDecoder {
    fn default() -> Self {
        let mut fixed = [0u8; PAYLOAD_BYTES];
        fixed[..2].copy_from_slice(&TAG);
        fixed[2] = VERSION;
        let mut rows = [0; FREE_BITS];
        for (k, row) in rows.iter_mut().enumerate() {
            let bit = FIXED_BITS + k;
            let mut unit = [0u8; PAYLOAD_BYTES];
            unit[bit / 8] = 0x80 >> (bit % 8);
            *row = word(&ecc::encode(&unit));
        }
        SoftDecoder { fixed: word(&ecc::encode(&fixed)), rows }
    }
}

/// Upper bound of the chance that one decode of an unmarked picture's soft
/// bits passes, when they are Gaussian noise: 2^40 candidates times
/// Q(MIN_Z), with Q bounded by the Gaussian density over MIN_Z.
pub fn false_positive_bound() -> f64 {
    let q = (-MIN_Z * MIN_Z / 2.0).exp() / (MIN_Z * (2.0 * std::f64::consts::PI).sqrt());
    2f64.powi(FREE_BITS as i32) * q
}

impl SoftDecoder {
    /// Decode `soft` (> 0 reads 1), whose noise has variance `noise[i]` per
    /// bit under no mark; None when the best candidate found is below MIN_Z.
    pub fn decode(&self, soft: &[f32], noise: &[f32]) -> Option<SoftDecode> {
        let (codeword, hard, z) = self.best(soft, noise);
        if z < MIN_Z {
            return None;
        }
        let bytes = |w: Word| ecc::from_bits(&(0..CODEWORD_BITS).map(|i| w >> i & 1 == 1).collect::<Vec<_>>());
        let (bytes, hard_bytes) = (bytes(codeword), bytes(hard));
        let corrected = bytes.iter().zip(&hard_bytes).filter(|(a, b)| a != b).count();
        Some(SoftDecode { payload: Payload::from_bytes(&bytes[..PAYLOAD_BYTES])?, corrected, z })
    }

    /// The codeword found, the hard-decided word and the codeword's z.
    pub(super) fn best(&self, soft: &[f32], noise: &[f32]) -> (Word, Word, f64) {
        assert!(soft.len() == CODEWORD_BITS && noise.len() == CODEWORD_BITS);
        let hard: Word = soft.iter().enumerate().fold(0, |w, (i, &s)| w | ((s > 0.0) as Word) << i);
        // With the fixed part taken out, the free part should read
        // `target` = hard ^ fixed; bit i costs |soft[i]| when it disagrees.
        let target = hard ^ self.fixed;
        let reliability: Vec<f32> = soft.iter().map(|s| s.abs()).collect();
        let codeword = self.best_free_word(target, &reliability) ^ self.fixed;
        let total: f64 = reliability.iter().map(|&r| r as f64).sum();
        let wrong: f64 =
            (0..CODEWORD_BITS).filter(|&i| (codeword ^ hard) >> i & 1 == 1).map(|i| reliability[i] as f64).sum();
        let sigma = noise.iter().map(|&v| v.max(0.0) as f64).sum::<f64>().sqrt();
        (codeword, hard, (total - 2.0 * wrong) / sigma.max(f64::MIN_POSITIVE))
    }

    /// The word of the free code closest to `target` found by OSD of order
    /// ORDER: cost = sum of the reliabilities where they disagree.
    fn best_free_word(&self, target: Word, reliability: &[f32]) -> Word {
        let mut positions: Vec<usize> = (0..CODEWORD_BITS).collect();
        positions.sort_by(|&a, &b| reliability[b].total_cmp(&reliability[a]));
        // Gaussian elimination over GF(2), pivoting on the most reliable
        // positions first: row k ends up the only one with bit pivot[k].
        let mut rows = self.rows;
        let mut pivots = Vec::with_capacity(FREE_BITS);
        for &p in &positions {
            let k = pivots.len();
            if k == FREE_BITS {
                break;
            }
            let Some(j) = (k..FREE_BITS).find(|&j| rows[j] >> p & 1 == 1) else { continue };
            rows.swap(k, j);
            for i in 0..FREE_BITS {
                if i != k && rows[i] >> p & 1 == 1 {
                    rows[i] ^= rows[k];
                }
            }
            pivots.push(p);
        }
        let rows = &rows[..pivots.len()];
        // Cost lookup per byte of a disagreement mask.
        let mut table = vec![[0f32; 256]; CODEWORD_BITS / 8];
        for (b, t) in table.iter_mut().enumerate() {
            for v in 1..256usize {
                let low = v.trailing_zeros() as usize;
                t[v] = t[v & (v - 1)] + reliability[b * 8 + low];
            }
        }
        let cost = |w: Word| -> f32 { (0..CODEWORD_BITS / 8).map(|b| table[b][(w >> (8 * b)) as usize & 0xff]).sum() };
        let base = rows.iter().zip(&pivots).filter(|(_, &p)| target >> p & 1 == 1).fold(0, |w, (r, _)| w ^ r);
        let mut best = (cost(base ^ target), base);
        let mut consider = |w: Word| {
            let c = cost(w ^ target);
            if c < best.0 {
                best = (c, w);
            }
        };
        for (a, ra) in rows.iter().enumerate() {
            consider(base ^ ra);
            if ORDER >= 2 {
                for rb in &rows[a + 1..] {
                    consider(base ^ ra ^ rb);
                }
            }
        }
        best.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};

    fn gaussian(rng: &mut ChaCha20Rng) -> f32 {
        // Box-Muller.
        let u = (rng.next_u32() as f32 + 1.0) / (u32::MAX as f32 + 2.0);
        let v = rng.next_u32() as f32 / u32::MAX as f32;
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
    }

    #[test]
    fn the_code_is_linear_so_its_rows_span_it() {
        let decoder = SoftDecoder::default();
        let payload = Payload::new("3fa2beef", 4711);
        let bytes = payload.to_bytes();
        let from_rows = (0..FREE_BITS)
            .filter(|k| bytes[(FIXED_BITS + k) / 8] & (0x80 >> ((FIXED_BITS + k) % 8)) != 0)
            .fold(decoder.fixed, |w, k| w ^ decoder.rows[k]);
        assert_eq!(from_rows, word(&ecc::encode(&bytes)));
    }

    #[test]
    fn decodes_where_one_bit_in_eight_is_wrong_and_refuses_noise() {
        let decoder = SoftDecoder::default();
        let payload = Payload::new("c0de", 99);
        let bits = ecc::to_bits(&ecc::encode(&payload.to_bytes()));
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let noise = vec![1.0f32; CODEWORD_BITS];
        let (mut decoded, mut hard_wrong_bytes) = (0, 0);
        for _ in 0..40 {
            // Signal 1.2 noise standard deviations: about 12 % of the bits flip.
            let soft: Vec<f32> = bits.iter().map(|&b| if b { 1.2 } else { -1.2 } + gaussian(&mut rng)).collect();
            let hard: Vec<bool> = soft.iter().map(|&s| s > 0.0).collect();
            let mut w = [0u8; CODEWORD_BYTES];
            w.copy_from_slice(&ecc::from_bits(&hard));
            hard_wrong_bytes += (ecc::decode(&w).map(|d| d.0) != Some(payload.to_bytes())) as usize;
            if let Some(d) = decoder.decode(&soft, &noise) {
                assert_eq!(d.payload, payload, "a wrong payload passed");
                decoded += 1;
            }
        }
        assert!(decoded >= 36, "soft decoding read {decoded} of 40");
        assert!(hard_wrong_bytes >= 20, "the case is not hard for Reed-Solomon ({hard_wrong_bytes} of 40 failed)");
        for _ in 0..200 {
            let soft: Vec<f32> = (0..CODEWORD_BITS).map(|_| gaussian(&mut rng)).collect();
            assert!(decoder.decode(&soft, &noise).is_none(), "noise decoded");
        }
        assert!(false_positive_bound() < 1e-13, "{}", false_positive_bound());
    }
}
