//! The 64-bit watermark payload: a fixed "edgepaint" tag, a format version,
//! a model id and a device id.

/// "EP": the fixed edgepaint tag at the start of every payload.
pub const TAG: [u8; 2] = *b"EP";
/// Payload layout version; a detector that meets another one says so.
pub const VERSION: u8 = 1;
/// Leading payload bits every edgepaint mark shares (tag and version): the
/// detectors' false-positive bounds count on them.
pub const FIXED_BITS: usize = (TAG.len() + 1) * 8;
/// Bytes of a payload: tag (2) + version (1) + model (2) + device (3).
pub const PAYLOAD_BYTES: usize = 8;
/// Largest device id that fits the payload (24 bits).
pub const MAX_DEVICE_ID: u32 = (1 << 24) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Payload {
    /// The first 16 bits of the model bundle's model.toml sha256, so it can be
    /// matched against the `model_sha256` metadata or a list of bundles.
    pub model_id: u16,
    /// The board file's `[provenance] device_id` (0: not set).
    pub device_id: u32,
}

impl Payload {
    /// `model_sha256` is the bundle's hex sha256; a malformed one gives model id 0.
    pub fn new(model_sha256: &str, device_id: u32) -> Payload {
        let model_id = u16::from_str_radix(model_sha256.get(..4).unwrap_or("0"), 16).unwrap_or(0);
        Payload { model_id, device_id: device_id & MAX_DEVICE_ID }
    }

    pub fn to_bytes(self) -> [u8; PAYLOAD_BYTES] {
        let [_, d2, d1, d0] = self.device_id.to_be_bytes();
        let [m1, m0] = self.model_id.to_be_bytes();
        [TAG[0], TAG[1], VERSION, m1, m0, d2, d1, d0]
    }

    /// None unless the tag and version are edgepaint's.
    pub fn from_bytes(b: &[u8]) -> Option<Payload> {
        if b.len() != PAYLOAD_BYTES || b[..2] != TAG || b[2] != VERSION {
            return None;
        }
        Some(Payload {
            model_id: u16::from_be_bytes([b[3], b[4]]),
            device_id: u32::from_be_bytes([0, b[5], b[6], b[7]]),
        })
    }

    /// The model id as the 4 hex digits it shares with `model_sha256`.
    pub fn model_hex(&self) -> String {
        format!("{:04x}", self.model_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_tags() {
        let p = Payload::new("3fa2beef", 4711);
        assert_eq!(p.model_id, 0x3fa2);
        let b = p.to_bytes();
        assert_eq!(&b[..3], b"EP\x01");
        assert_eq!(Payload::from_bytes(&b), Some(p));
        let mut other = b;
        other[0] = b'X';
        assert_eq!(Payload::from_bytes(&other), None);
        assert_eq!(Payload::new("zz", MAX_DEVICE_ID + 5).model_id, 0);
    }
}
