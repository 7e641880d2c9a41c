//! Error correction for the watermark payload: Reed-Solomon over GF(256)
//! (the `reed-solomon` crate), 8 payload bytes + [`PARITY`] parity bytes.
//! A decode is accepted only within [`MAX_ERRORS`] symbol errors, which is
//! what the false-positive bound in [`false_positive_bound`] counts.

use super::payload::PAYLOAD_BYTES;
use reed_solomon::{Decoder, Encoder};

/// Parity bytes; the code corrects up to half as many wrong bytes.
pub const PARITY: usize = 8;
/// Bytes in a codeword.
pub const CODEWORD_BYTES: usize = PAYLOAD_BYTES + PARITY;
/// Bits carried by the watermark.
pub const CODEWORD_BITS: usize = CODEWORD_BYTES * 8;
/// Most symbol errors a decode may correct and still count as a detection.
pub const MAX_ERRORS: usize = PARITY / 2;

pub fn encode(payload: &[u8; PAYLOAD_BYTES]) -> [u8; CODEWORD_BYTES] {
    let buf = Encoder::new(PARITY).encode(payload);
    let mut out = [0u8; CODEWORD_BYTES];
    out.copy_from_slice(&buf[..]);
    out
}

/// The payload and the number of bytes corrected, or None when the word is
/// further than [`MAX_ERRORS`] bytes from every codeword.
pub fn decode(received: &[u8; CODEWORD_BYTES]) -> Option<([u8; PAYLOAD_BYTES], usize)> {
    let (buf, _) = Decoder::new(PARITY).correct_err_count(received, None).ok()?;
    let mut payload = [0u8; PAYLOAD_BYTES];
    payload.copy_from_slice(buf.data());
    // Count the distance ourselves: the acceptance radius is what the
    // false-positive bound relies on, so it must not depend on decoder details.
    let errors = encode(&payload).iter().zip(received).filter(|(a, b)| a != b).count();
    (errors <= MAX_ERRORS).then_some((payload, errors))
}

/// Pack bits (most significant first) into bytes and back.
pub fn to_bits(bytes: &[u8]) -> Vec<bool> {
    bytes.iter().flat_map(|b| (0..8).rev().map(move |i| b >> i & 1 == 1)).collect()
}

pub fn from_bits(bits: &[bool]) -> Vec<u8> {
    bits.chunks(8).map(|c| c.iter().fold(0u8, |acc, &b| acc << 1 | b as u8)).collect()
}

/// Probability that one attempt on an unmarked image passes, when its bits
/// are fair coins (the key's random signs make them so): the fraction of
/// words within MAX_ERRORS bytes of a codeword whose `fixed_bits` leading
/// bits (tag and version) are edgepaint's.
pub fn false_positive_bound(fixed_bits: usize) -> f64 {
    let (n, k, q) = (CODEWORD_BYTES as i32, PAYLOAD_BYTES as i32, 256f64);
    let mut ball = 0f64;
    for i in 0..=MAX_ERRORS as i32 {
        ball += binomial(n, i) * (q - 1.0).powi(i);
    }
    ball / q.powi(n - k) * 2f64.powi(-(fixed_bits as i32))
}

fn binomial(n: i32, k: i32) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};

    #[test]
    fn corrects_up_to_max_errors_and_no_more() {
        let payload = *b"EP\x01\x3f\xa2\x00\x12\x67";
        let word = encode(&payload);
        assert_eq!(from_bits(&to_bits(&word)), word.to_vec());
        let mut bad = word;
        for i in 0..MAX_ERRORS {
            bad[i * 3] ^= 0x5a;
        }
        assert_eq!(decode(&bad), Some((payload, MAX_ERRORS)));
        bad[1] ^= 0x01;
        assert_ne!(decode(&bad).map(|d| d.0), Some(payload));
    }

    #[test]
    fn random_words_never_panic_and_rarely_decode() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut decoded = 0;
        for _ in 0..20_000 {
            let mut w = [0u8; CODEWORD_BYTES];
            rng.fill_bytes(&mut w);
            decoded += decode(&w).is_some() as usize;
        }
        // Expected about 20_000 * 4.2e-7 = 0.008 decodes.
        assert!(decoded <= 1, "{decoded} random words decoded");
        assert!(false_positive_bound(0) < 1e-6 && false_positive_bound(0) > 1e-7);
    }
}
