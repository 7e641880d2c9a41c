//! Content Credentials (C2PA): a signed manifest inside the PNG that says
//! the picture was made by a trained model (`c2pa.created`, digital source
//! type trainedAlgorithmicMedia) and ties it to the invisible watermark (a
//! `c2pa.soft-binding` assertion holding the mark's payload), so a copy
//! whose manifest was stripped can still be matched by its mark. Written by
//! `generate` and the kiosk when a certificate and key are given, read by
//! `verify` (README "Content Credentials"). Without the cargo feature `c2pa`
//! (the board builds) giving a certificate is a clear error and `verify`
//! says a manifest is there but cannot be checked.

use thiserror::Error;

#[cfg(feature = "c2pa")]
mod signed;
#[cfg(feature = "c2pa")]
pub use signed::{read_png, Signer};

#[cfg(not(feature = "c2pa"))]
mod without;
#[cfg(not(feature = "c2pa"))]
pub use without::{read_png, Signer};

/// The soft-binding algorithm name for edgepaint's watermark (not in the
/// C2PA soft-binding algorithm list; the value is the payload in hex).
pub const SOFT_BINDING_ALG: &str = "org.edgepaint.watermark.1";

/// Whether this build signs and reads C2PA manifests.
pub const SUPPORTED: bool = cfg!(feature = "c2pa");

#[derive(Debug, Error)]
pub enum CredentialsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("cannot sign the picture (C2PA): {0}")]
    Sign(String),
    #[error("cannot read its Content Credentials (C2PA): {0}")]
    Read(String),
    #[error("this edgepaint is built without C2PA (cargo feature `c2pa`)")]
    Unsupported,
}

/// What a picture's manifest says, and whether its signature holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Credentials {
    /// The claim generator (software) and its version.
    pub generator: Option<String>,
    /// Each action with its digital source type, e.g. ("c2pa.created",
    /// ".../trainedAlgorithmicMedia").
    pub actions: Vec<(String, Option<String>)>,
    /// The soft binding: (algorithm, value), e.g. edgepaint's payload.
    pub soft_binding: Option<(String, String)>,
    /// The signing certificate's organisation and common name.
    pub signed_by: Option<String>,
    pub algorithm: Option<String>,
    /// "trusted" (the signer chains to a trust anchor given to `verify`),
    /// "valid" (signature and hashes hold, signer not trusted) or "invalid".
    pub state: &'static str,
    /// The failed validation codes (e.g. assertion.dataHash.mismatch after
    /// an edit, signingCredential.untrusted for an unknown signer).
    pub failures: Vec<String>,
}

/// Whether `png` carries a C2PA manifest (a `caBX` chunk), read without
/// the c2pa crate.
pub fn has_manifest(png: &[u8]) -> bool {
    let mut at = 8; // the PNG signature
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]) as usize;
        if &png[at + 4..at + 8] == b"caBX" {
            return true;
        }
        at = at.saturating_add(12).saturating_add(len);
    }
    false
}
