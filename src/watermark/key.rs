//! The watermark key: what makes a mark findable only by who holds it.

use sha2::{Digest, Sha256};

/// The detection key. Without one set by the operator it is the built-in
/// default, which anyone with the source has: it lets everyone check a
/// picture, not keep a secret.
#[derive(Clone)]
pub struct Key([u8; 32]);

pub const DEFAULT_KEY: &str = "edgepaint-open-default-key";

impl Key {
    pub fn new(text: &str) -> Key {
        let mut h = Sha256::new();
        h.update(b"edgepaint watermark key v1\0");
        h.update(text.as_bytes());
        Key(h.finalize().into())
    }

    /// `text` or the default key.
    pub fn or_default(text: Option<&str>) -> Key {
        Key::new(text.unwrap_or(DEFAULT_KEY))
    }

    /// The key's 32 bytes, which seed every key-chosen part of a mark.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}
